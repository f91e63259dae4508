"""Config loading, merging, overrides, and every validation error."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from config.loader import ConfigError, load_config

SPEC_EXAMPLE = """
algo_cfg:
  value_layers:
    - {layer_type: linear, layer_dim: [256], activation: relu}
    - {layer_type: linear, layer_dim: [256], activation: relu}
  batch_size: 64
  buffer_type: REPLAY_QUE
  buffer_size: 100000
  epsilon_decay: 500
  epsilon_end: 0.01
  epsilon_start: 0.95
  gamma: 0.95
  lr: 0.0001
  target_update: 4
"""


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_dqn_cartpole():
    cfg = load_config()
    assert (cfg.general.algo_name, cfg.general.env_name, cfg.env.id) == (
        "DQN",
        "gym",
        "CartPole-v1",
    )
    assert cfg.general.mode == "train"


def test_spec_example_loads_as_is(tmp_path):
    cfg = load_config(write(tmp_path, SPEC_EXAMPLE))
    assert cfg.algo.lr == 1e-4 and cfg.algo.gamma == 0.95 and cfg.algo.target_update == 4
    assert [layer.layer_dim for layer in cfg.algo.value_layers] == [[256], [256]]
    assert cfg.algo.buffer_type == "REPLAY_QUE"


@pytest.mark.parametrize("preset", sorted((ROOT / "config" / "presets").glob("*.yaml")))
def test_presets_load(preset):
    if "env_name: atari" in preset.read_text():
        pytest.importorskip("ale_py", reason="Atari presets need the atari extra")
    cfg = load_config(preset)
    assert cfg.general.reward_threshold is not None


def test_missing_and_empty_sections(tmp_path):
    cfg = load_config(write(tmp_path, "general_cfg:\nalgo_cfg: {}\n"))
    assert cfg.algo.lr == load_config().algo.lr
    assert load_config(write(tmp_path, "", "empty.yaml")).general.algo_name == "DQN"


def test_yaml_then_overrides_precedence_and_coercion(tmp_path):
    path = write(
        tmp_path,
        """
        general_cfg: {algo_name: PPO, seed: 3, max_env_steps: 1e5}
        algo_cfg: {lr: 1e-3, n_steps: 64}
        env_cfg: {n_envs: 4}
        """,
    )
    cfg = load_config(
        path, ["algo_cfg.lr=3e-4", "general_cfg.seed=7", "env_cfg.wrappers=[ClipAction]"]
    )
    assert cfg.general.algo_name == "PPO"
    assert cfg.algo.lr == pytest.approx(3e-4)  # PyYAML reads 3e-4 as a string: coerced
    assert cfg.general.max_env_steps == 100_000 and isinstance(cfg.general.max_env_steps, int)
    assert cfg.general.seed == 7 and cfg.algo.n_steps == 64 and cfg.env.n_envs == 4
    assert cfg.env.wrappers[0].name == "ClipAction"


def test_bare_off_in_yaml_is_the_choice_off(tmp_path):
    """YAML 1.1 reads a bare `off` as false; a choice key that has "off" takes it as "off"."""
    cfg = load_config(write(tmp_path, "general_cfg: {algo_name: PPO}\nalgo_cfg: {norm_adv: off}\n"))
    assert cfg.algo.norm_adv == "off"


def test_merged_config_round_trips(tmp_path):
    cfg = load_config(None, ["general_cfg.algo_name=PPO", "algo_cfg.lr=0.01"])
    again = load_config(write(tmp_path, cfg.dump()))
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "expected"),
    [
        (
            "algo_cfg: {learning_rate: 0.1}",
            [],
            "algo_cfg.learning_rate: unknown key; did you mean 'lr'?",
        ),
        ("general_cfg: {sed: 1}", [], "general_cfg.sed: unknown key; did you mean 'seed'?"),
        ("algo_cfg: {lr: fast}", [], "algo_cfg.lr: expected a number, got 'fast'"),
        ("algo_cfg: {batch_size: 1.5}", [], "algo_cfg.batch_size: expected an integer"),
        (
            "general_cfg: {online_eval: maybe}",
            [],
            "general_cfg.online_eval: expected true or false",
        ),
        ("algo_cfg: {lr: -0.1}", [], "algo_cfg.lr: must be > 0"),
        ("algo_cfg: {gamma: 1.5}", [], "algo_cfg.gamma: must be in [0, 1]"),
        ("algo_cfg: {batch_size: 0}", [], "algo_cfg.batch_size: must be > 0"),
        (
            "algo_cfg: {value_layers: [{layer_type: linear, layer_dim: [8], activation: relux}]}",
            [],
            "algo_cfg.value_layers[0].activation: unknown activation 'relux'",
        ),
        (
            "general_cfg: {algo_name: SAC9}",
            [],
            "unknown algo 'SAC9'; available: A2C, BC, C51, CQL, DDPG, DQN",
        ),
        (
            "general_cfg: {env_name: atari9}",
            [],
            "general_cfg.env_name: unknown env 'atari9'; available: atari, gym",
        ),
        (
            "env_cfg: {id: CartPole-v9}",
            [],
            "env_cfg.id: unknown gymnasium id 'CartPole-v9'; did you mean 'CartPole-v1'?",
        ),
        ("general_cfg: {mode: tset}", [], "general_cfg.mode: 'tset' is not allowed"),
        ("algo_cfg: {}", ["algo_cfg.lr=-1"], "command line: algo_cfg.lr: must be > 0"),
        ("", ["algo_cfg.lr"], "command line: 'algo_cfg.lr': expected section.key=value"),
        ("", ["algo.lr=1"], "command line: 'algo.lr=1': unknown section 'algo'"),
        ("algocfg: {lr: 1}", [], "unknown section 'algocfg'; did you mean 'algo_cfg'?"),
        (
            "general_cfg: {load_checkpoint: true, load_path: no/such/run}",
            [],
            "general_cfg.load_path: no/such/run does not exist",
        ),
        ("general_cfg: {mode: test}", [], "mode test needs a trained model"),
        (
            "env_cfg: {wrappers: [{name: StepDelay, dely: 1}]}",
            [],
            "unexpected keyword argument 'dely'",
        ),
    ],
)
def test_errors_name_file_section_and_key(tmp_path, yaml_text, overrides, expected):
    path = write(tmp_path, yaml_text)
    message = error_of(path, overrides)
    assert expected in message
    source = "command line" if "command line" in expected else str(path)
    assert message.startswith(source)


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "general_cfg:\n  seed: 1\n  mode: [train\nalgo_cfg: {}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: malformed YAML (line ")


def test_not_a_mapping_and_missing_file(tmp_path):
    assert "a config is a mapping" in error_of(write(tmp_path, "- 1\n- 2\n"))
    assert "no such file" in error_of(tmp_path / "nope.yaml")


def test_cli_error_is_one_line_exit_2_nothing_written(tmp_path):
    path = write(tmp_path, "algo_cfg: {learning_rate: 0.1}\n")
    tasks = tmp_path / "tasks"
    proc = run_cli("--yaml", str(path), f"general_cfg.tasks_dir={tasks}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert (
        lines[0]
        == f"rldojo: error: {path}: algo_cfg.learning_rate: unknown key; did you mean 'lr'?"
    )
    assert not tasks.exists()


def test_keys_lists_every_documented_key():
    proc = run_cli("--keys")
    assert proc.returncode == 0
    for key in (
        "general_cfg:",
        "reward_threshold",
        "algo_cfg (algo_name: DQN)",
        "gae_lambda",
        "n_envs",
    ):
        assert key in proc.stdout
    # every field has a docstring
    from config.config import GeneralConfig
    from config.loader import _section_class, available

    classes = [GeneralConfig] + [_section_class("algos", a, "")[1] for a in available("algos")]
    classes += [_section_class("envs", e, "")[1] for e in available("envs")]
    for cls in classes:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in cls.docs()]
        assert not missing, f"{cls.__module__}.{cls.__name__} fields without docstring: {missing}"


def test_dump_is_plain_yaml():
    data = yaml.safe_load(load_config().dump())
    assert set(data) == {"general_cfg", "algo_cfg", "env_cfg"}


# ---- nothing silently accepted (issue 10) --------------------------------------------------------
def test_duplicate_sections_and_keys_name_both_lines(tmp_path):
    path = write(tmp_path, "general_cfg:\n  seed: 1\nalgo_cfg:\n  lr: 0.1\n  lr: 0.2\n")
    assert "'lr' appears twice (lines 4 and 5)" in error_of(path)
    path = write(tmp_path, "general_cfg: {seed: 1}\nenv_cfg: {}\ngeneral_cfg: {seed: 2}\n")
    assert "'general_cfg' appears twice (lines 1 and 3)" in error_of(path)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("algo_cfg.lr=.inf", "algo_cfg.lr: expected a finite number, got inf"),
        ("algo_cfg.gamma=.nan", "algo_cfg.gamma: expected a finite number"),
        ("general_cfg.reward_threshold=-.inf", "expected a finite number"),
        ("general_cfg.seed=4294967296", "general_cfg.seed: must be in [0, 2**32)"),
        ("general_cfg.max_env_steps=.inf", "general_cfg.max_env_steps: expected an integer"),
        ("general_cfg.threshold_evals=0", "general_cfg.threshold_evals: must be 1 or more"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused(override, expected):
    assert expected in error_of(None, [override])


def test_threshold_evals_without_a_threshold_is_refused():
    overrides = ["general_cfg.reward_threshold=null", "general_cfg.threshold_evals=3"]
    assert "threshold_evals: counts evaluations at reward_threshold" in error_of(None, overrides)
    assert load_config(None, overrides[:1]).general.threshold_evals == 1


def test_warnings_for_values_that_are_probably_not_meant(tmp_path):
    empty = write(tmp_path, "")
    cfg = load_config(empty)
    assert cfg.warnings == [f"{empty} sets nothing (empty file or sections): running the defaults"]
    cfg = load_config(None, ["env_cfg.n_envs=64", "general_cfg.max_env_steps=500"])
    assert "fewer than 10 vector steps of 64 envs" in cfg.warnings[0]
    cfg = load_config(None, ["general_cfg.online_eval_episode=5000"])
    assert "online_eval_episode 5000" in cfg.warnings[0]
    assert load_config(None, []).warnings == []
    tasks = tmp_path / "tasks"
    proc = run_cli(
        "--yaml",
        str(empty),
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.max_env_steps=300",
        "general_cfg.online_eval=false",
        "general_cfg.save_fig=false",
    )
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines()[0] == (
        f"rldojo: warning: {empty} sets nothing (empty file or sections): running the defaults"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["env_cfg.make_kwargs={gravity_x: 1}"],
            "env_cfg.make_kwargs: CartPole-v1 does not accept",
        ),
        (
            ["algo_cfg.value_layers=[{layer_type: conv2d, layer_dim: [8]}]"],
            "algo_cfg.value_layers[0]: conv2d needs an image input",
        ),
        (
            [
                "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [500000]}, "
                "{layer_type: linear, layer_dim: [500000]}]"
            ],
            "algo_cfg.value_layers: 250,003,000,000 parameters need about",
        ),
        (["env_cfg.id=Pendulum-v1"], "DQN supports discrete actions"),
        (
            [
                "env_cfg.id=FrozenLake-v1",
                "general_cfg.algo_name=PPO",
                "env_cfg.make_kwargs={foo: 1}",
            ],
            "FrozenLake-v1 does not accept",
        ),
    ],
)
def test_bad_values_found_when_building_are_one_line_errors(tmp_path, overrides, expected):
    tasks = tmp_path / "tasks"
    proc = run_cli(*overrides, f"general_cfg.tasks_dir={tasks}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, lines
    assert not tasks.exists()


def test_env_seeds_of_adjacent_run_seeds_do_not_overlap():
    from framework.runtime.seeding import env_seeds

    one, two = env_seeds(1, 8), env_seeds(2, 8)
    assert len(set(one)) == 8 and not set(one) & set(two)
    assert env_seeds(1, 8) == one and env_seeds(1, 8, 1) != one  # per worker too
