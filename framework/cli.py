"""Command line: ``python main.py [--yaml FILE] [section.key=value ...]`` (or ``rldojo``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
overrides: any number of section.key=value after the options, applied after the YAML;
values are parsed as YAML, e.g.
  python main.py --yaml config/presets/CartPole-v1_PPO.yaml algo_cfg.lr=1e-3 general_cfg.seed=2
  python main.py general_cfg.mode=test general_cfg.load_checkpoint=true general_cfg.load_path=RUN
List every key with its default and meaning: python main.py --keys
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
        "overrides", nargs="*", metavar="section.key=value", help="config overrides"
    )
    return parser.parse_args(argv)


def fail(message: str, code: int = 2) -> int:
    print(f"rldojo: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from config.loader import ConfigError, describe_keys, load_config, resolve_load_path

    if args.keys:
        print(describe_keys())
        return 0
    try:
        cfg = load_config(args.yaml, args.overrides)
        ckpt = resolve_load_path(cfg.general) if cfg.general.load_checkpoint else None
    except ConfigError as err:
        return fail(str(err))
    g = cfg.general
    from framework.render import display_error, effective_render_mode

    no_display = display_error(effective_render_mode(cfg))
    if no_display:
        return fail(f"env_cfg.render_mode: {no_display}")

    from algos.base.policy import UnsupportedSpace
    from framework.recorder import CheckpointError, TaskDir
    from framework.trainer import Prepared, exploration_error, run

    try:
        prep = Prepared(cfg, ckpt)
    except (CheckpointError, UnsupportedSpace) as err:
        return fail(str(err))
    except KeyboardInterrupt:
        return fail("interrupted before the run started; nothing was written", 130)
    bad_exploration = exploration_error(cfg, prep.policy)
    if bad_exploration:
        return fail(bad_exploration)
    ray_started = False
    if g.mode == "train" and g.mp_backend == "ray":  # Ray's resources, before any file
        from framework.ray_backend import RaySetupError, check_resources, init_ray

        try:
            ray_started = init_ray(g)
            check_resources(g)
        except RaySetupError as err:
            stop_ray(ray_started)
            return fail(str(err))
    label = __import__(f"envs.{g.env_name}.env", fromlist=["env_label"]).env_label(cfg.env)
    task = TaskDir.create(g.tasks_dir, g.mode, label, g.algo_name)
    task.save_config(cfg.dump())
    logger = task.setup_logging()
    logger.info("rldojo run in %s\n%s", task.root, cfg.dump())
    try:
        summary = run(cfg, task, prep)
    finally:
        task.close()
        stop_ray(ray_started)
    print(f"Task directory: {task.root}")
    if summary.get("error"):
        return fail(summary["error"], 1)
    return 130 if summary.get("interrupted") else 0


def stop_ray(started: bool) -> None:
    if started:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
