"""Run a peer's script unmodified with ale-py's ids registered (ale-py >= 0.9 registers them
on import; scripts written for ale-py 0.8's gymnasium plugin do not import it), with the
script's folder first on sys.path as ``python script.py`` has it (CleanRL's scripts import
``cleanrl_utils`` from beside them).

    python run_with_ale.py path/to/ppo_atari.py --total-timesteps 4096
"""

import os
import runpy
import sys

import ale_py  # noqa: F401  (registers ALE/... and *NoFrameskip-v4 ids)

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
runpy.run_path(script, run_name="__main__")
