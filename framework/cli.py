"""Command line: ``python main.py [--yaml FILE] [section.key=value ...]`` (or ``rldojo``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from signal import Signals

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "algos", "envs", "framework")


def _pin_packages() -> None:
    """Make sure `config`, `algos`, `envs` resolve to this checkout, not to another installed
    package of the same name (e.g. PyPI's `config`)."""
    root = str(ROOT)
    if sys.path[:1] != [root]:
        sys.path.insert(0, root)
    for name in PACKAGES:
        mod = sys.modules.get(name)
        origin = getattr(mod, "__file__", None) or ""
        if mod is not None and not Path(origin).resolve().is_relative_to(ROOT):
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]


_pin_packages()

EPILOG = """\
examples:
  python main.py --yaml config/presets/CartPole-v1_PPO.yaml algo_cfg.lr=1e-3 general_cfg.seed=2
  python main.py general_cfg.mode=test general_cfg.load_checkpoint=true general_cfg.load_path=RUN
  python main.py --keys
  python main.py --yaml base.yaml --tune space.yaml        hyperparameter search (extra: tune)
  python main.py --tune tasks/Tune_...                     resume a stopped search
  python main.py --yaml base.yaml --seeds 1,2,3 [--parallel]
  python main.py --compare tasks/A tasks/B [--stat iqm] [--threshold 475]

Overrides (section.key=value, parsed as YAML) apply after the YAML. RUN is a task directory
(tasks/Train_...): test, render and collect take the algorithm and its config from its
checkpoint. --keys lists every key with its default and meaning.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rldojo",
        description="Train, test, render and collect data from RL agents, configured by YAML.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--yaml", metavar="FILE", help="config YAML (sections general_cfg, algo_cfg, env_cfg)"
    )
    parser.add_argument("--keys", action="store_true", help="list every config key and exit")
    parser.add_argument(
        "--tune",
        metavar="SPACE",
        help="search hyperparameters of the YAML over a search-space file, or resume a search "
        "folder (tasks/Tune_...)",
    )
    parser.add_argument(
        "--seeds", metavar="S1,S2,...", help="run the config once per seed into a group folder"
    )
    parser.add_argument(
        "--parallel", action="store_true", help="with --seeds: run the seeds at once on Ray"
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="DIR",
        help="compare runs: task directories or folders of them (groups); writes a figure and CSV",
    )
    parser.add_argument(
        "--stat",
        choices=("mean", "iqm"),
        default="mean",
        help="with --compare: mean ± std, or IQM with 95%% bootstrap confidence intervals",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="with --compare: the return for time to threshold (default: the runs' own)",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="section.key=value", help="config overrides"
    )
    return parser.parse_intermixed_args(argv)  # overrides may come before or after --yaml


def fail(message: str, code: int = 2) -> int:
    print(f"rldojo: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    from framework.runtime.console import outliving_console

    with outliving_console():  # a reader that goes away does not end the run
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    from config.base import UserError
    from config.loader import describe_keys

    if args.keys:
        print(describe_keys())
        return 0
    from framework.runtime.faults import is_disk_error, write_error
    from framework.runtime.signals import signal_name, stop_signals

    try:
        with stop_signals():
            if args.tune or args.seeds or args.compare:
                return several(args)
            from framework.api import run
            from framework.runtime.setup import load_run_config

            cfg = load_run_config(args.yaml, args.overrides)
            summary = run(cfg)
    except UserError as err:
        return fail(str(err))
    except OSError as err:  # a full disk or read-only file system before the run could start
        if not is_disk_error(err):
            raise
        return fail(write_error(err), 1)
    except KeyboardInterrupt as err:
        name = signal_name(err)
        return fail(f"{name} before the run started; nothing was written", 128 + Signals[name])
    if summary["task_dir"] is None:  # a finished run resumed: nothing to do
        return 0
    print(f"Task directory: {summary['task_dir']}")
    if summary.get("error"):
        return fail(summary["error"], 1)
    if summary.get("interrupted"):
        return 128 + Signals[summary.get("signal") or "SIGINT"]
    return 0


def several(args: argparse.Namespace) -> int:
    """--tune, --seeds, --compare (framework/tune/): each returns a summary whose
    ``interrupted``/``signal`` give the exit code."""
    from config.base import UserError

    if sum(map(bool, (args.tune, args.seeds, args.compare))) > 1:
        raise UserError("give one of --tune, --seeds and --compare")
    if args.parallel and not args.seeds:
        raise UserError("--parallel goes with --seeds")
    if args.tune:
        from framework.tune.search import print_summary, run_search

        summary = run_search(args.tune, args.yaml, args.overrides)
        print_summary(summary)
    elif args.seeds:
        from framework.tune.seeds import parse_seeds, run_seeds

        summary = run_seeds(args.yaml, args.overrides, parse_seeds(args.seeds), args.parallel)
    else:
        from framework.tune.compare import run_compare

        # --compare takes every word after it; section.key=value words are overrides
        paths = [a for a in args.compare if "=" not in a or Path(a).exists()]
        overrides = args.overrides + [a for a in args.compare if a not in paths]
        summary = run_compare(paths, overrides, args.stat, args.threshold)
    if summary.get("interrupted"):
        return 128 + Signals[summary.get("signal") or "SIGINT"]
    return 1 if summary.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
