"""General config: what to run, how long, where outputs go (``general_cfg`` in a YAML)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from config.base import BaseConfig, require

MODES = ("train", "test", "render", "collect")


@dataclass
class GeneralConfig(BaseConfig):
    algo_name: str = "DQN"
    """Algorithm: a folder under algos/ (see the README's table)."""
    env_name: str = "gym"
    """Environment family: a folder under envs/; `gym` runs any gymnasium id given in env_cfg.id."""
    mode: Literal["train", "test", "render", "collect"] = "train"
    """train: learn; test: evaluate a checkpoint; render: a shortcut for test with rendering on
    (env_cfg.render_mode, or rgb_array, i.e. videos/video.gif, when it is null); collect: run a
    checkpoint for max_episode episodes with collect_exploration and record them (collect_traj
    forced on)."""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Torch device for the networks; auto picks cuda when available."""
    seed: int = 1
    """Seed of torch, numpy and the envs; 0 means unseeded (a different run every time)."""
    max_episode: int = -1
    """Train: stop after this many episodes (-1: no limit). Test/render/collect: episodes to run
    (-1: 10)."""
    max_step: int = -1
    """Step limit per episode (truncation); -1 keeps the env's own limit."""
    max_env_steps: int = 50_000
    """Total env-step budget of a training run (-1: no limit). Not used with a dataset."""
    dataset: str | list[str] | None = None
    """Train offline from this dataset instead of stepping envs (null: learn online): a task
    directory of rldojo trajectory shards (results/trajs*.npz, written by mode collect), a
    shard file, a list of those, or minari:<dataset id or path> (a Minari dataset in the local
    store; needs the minari extra). Evaluation still runs on env_cfg's env, whose id defaults
    to the dataset's. The run's clock counts update steps: max_update_steps is its budget,
    online_eval_fre and schedule_steps are in update steps."""
    max_update_steps: int = -1
    """Update-step budget of a training run (-1: no limit); the budget of a run with a dataset."""
    schedule_steps: int | None = None
    """Steps over which linear schedules (learning rate, entropy, PER beta) run, on the run's
    clock (update steps with a dataset); null: max_env_steps (max_update_steps). A resumed run keeps the schedule of the run it continues unless this is set
    (then the log says that the schedule changed)."""
    load_checkpoint: bool = False
    """Load load_path before running (test, render and collect need it; train resumes from it)."""
    load_path: str | None = None
    """A task directory (absolute, relative, or a name under tasks_dir), its models/ folder, or a
    checkpoint file. For a directory, training resumes from models/last.pt and test, render and
    collect use models/best.pt (each falling back to the other, then to the newest checkpoint).
    Test, render and collect build the policy from the checkpoint's algo_name, algo_cfg and
    env_cfg (values given here for env_cfg win; contradicting algo values are errors)."""
    init_from: str | None = None
    """Train a new run that starts from the networks of another run's checkpoint (a task
    directory, its models/ folder or a checkpoint file; a directory gives its best.pt, else
    last.pt): the weights and observation statistics only; optimizers, counters, schedules and
    replay start fresh. The checkpoint may come from another algorithm that has this one's
    networks, which is how offline training continues online: CQL to SAC (Box actions) or to a
    DQN variant with its head (Discrete), TD3BC to TD3. Only a new training run uses it: a
    resumed one (load_checkpoint) continues from its own checkpoint, and test, render and
    collect load theirs (so a run's config.yaml serves them as it is)."""
    online_eval: bool = True
    """Evaluate the deterministic policy on separate envs while training."""
    online_eval_episode: int = 10
    """Episodes per online evaluation."""
    online_eval_fre: int = 5_000
    """Steps between online evaluations, on the run's clock: env steps, or update steps for a
    run with a dataset."""
    model_save_fre: int = 0
    """Write models/<update_step>.pt every this many update steps (0: only the final one)."""
    save_buffer: bool = True
    """Train: save the replay buffer beside last.pt (models/last.buffer.npz), so a resumed run
    continues with it; skipped, with a log line, above buffer_save_limit_mb."""
    buffer_save_limit_mb: int = 2048
    """Largest replay buffer save_buffer writes, in MB."""
    keep_checkpoints: int = 5
    """Periodic checkpoints to keep, the newest (0: all); best.pt and last.pt are always kept."""
    save_best_model: bool = True
    """Keep models/best.pt: the checkpoint with the highest online-eval mean so far."""
    reward_threshold: float | None = None
    """Stop training once an online-eval mean reaches this (null: off); see threshold_evals."""
    threshold_evals: int = 1
    """Stop at reward_threshold only once this many online evaluations in a row reach it (1: the
    first one does). More than one keeps training until the policy holds the bar, rather than
    stopping on one lucky evaluation; best.pt is still the highest evaluation."""
    save_fig: bool = True
    """Write figs/rewards.png (training and evaluation returns)."""
    show_fig: bool = False
    """Also show the figure on screen at the end (only when a display exists)."""
    mp_backend: Literal["single", "ray"] = "single"
    """single: one process with vectorized envs; ray: Worker/Learner/DataServer actors."""
    n_workers: int = 1
    """Ray backend: number of Worker actors, each with its own env_cfg.n_envs envs."""
    ray_address: str | None = None
    """Ray backend: null starts a local Ray; `auto` or `ray://host:port` joins a cluster."""
    worker_num_cpus: float = 0.5
    """Ray backend: CPUs Ray reserves per Worker actor (logical; lower it, e.g. 0.25, to run more
    workers than cores when env steps wait on I/O or a slow simulator rather than compute)."""
    learner_num_cpus: float = 1.0
    """Ray backend: CPUs Ray reserves for the Learner actor (it runs on the driver's node, where
    it writes the task directory)."""
    learner_num_gpus: float | None = None
    """Ray backend: GPUs Ray reserves for the Learner actor; null: 1 when `device` resolves to
    cuda, else 0. Fractions share a GPU."""
    worker_max_restarts: int = -1
    """Ray backend: how often Ray restarts a Worker whose process died (-1: always, 0: never; a
    worker that cannot be restarted ends the run)."""
    collect_traj: bool = False
    """Record every episode of the run (any mode; forced on in collect) into results/trajs*.pkl
    (see the README for the schema)."""
    collect_exploration: Literal["deterministic", "epsilon", "sampled"] = "deterministic"
    """Collect mode's actions: deterministic (greedy / distribution mode); epsilon (a uniformly
    random action with probability collect_epsilon, else the deterministic one: epsilon-greedy
    for DQN); sampled (a sample of a stochastic policy, e.g. PPO; an error for a policy that
    has none, such as DQN)."""
    collect_epsilon: float = 0.1
    """Probability of a uniformly random action with collect_exploration: epsilon."""
    tensorboard: bool = False
    """Also write TensorBoard event files to logs/ (needs `pip install tensorboard`)."""
    torch_threads: int = 1
    """torch.set_num_threads; 1 is fastest for the small networks of classic control."""
    onednn_linear: bool = True
    """Compute large float32 linear layers on an x86 CPU with oneDNN's matmul instead of torch's
    default BLAS (MKL, which runs AVX2 code on non-Intel CPUs): about 2x faster per product on
    an AMD EPYC; small ones stay on MKL. false: plain torch everywhere."""
    progress: bool = True
    """Live progress bar on a terminal (a log line per evaluation otherwise)."""
    tasks_dir: str = "tasks"
    """Folder in which the run's task directory is created."""

    def check(self) -> None:
        require(0 <= self.seed < 2**32, "seed", "must be in [0, 2**32) (0: unseeded)")
        require(self.max_episode == -1 or self.max_episode > 0, "max_episode", "must be -1 or > 0")
        require(self.max_step == -1 or self.max_step > 0, "max_step", "must be -1 or > 0")
        require(
            self.max_env_steps == -1 or self.max_env_steps > 0,
            "max_env_steps",
            "must be -1 or > 0",
        )
        require(self.online_eval_episode > 0, "online_eval_episode", "must be > 0")
        require(self.online_eval_fre > 0, "online_eval_fre", "must be > 0")
        require(self.model_save_fre >= 0, "model_save_fre", "must be >= 0 (0: off)")
        require(self.keep_checkpoints >= 0, "keep_checkpoints", "must be >= 0 (0: all)")
        require(self.buffer_save_limit_mb >= 0, "buffer_save_limit_mb", "must be >= 0")
        require(
            self.schedule_steps is None or self.schedule_steps > 0,
            "schedule_steps",
            "must be > 0 (null: max_env_steps)",
        )
        require(self.n_workers >= 1, "n_workers", "must be >= 1")
        require(0 < self.worker_num_cpus <= 64, "worker_num_cpus", "must be in (0, 64]")
        require(0 <= self.learner_num_cpus <= 64, "learner_num_cpus", "must be in [0, 64]")
        require(
            self.learner_num_gpus is None or 0 <= self.learner_num_gpus <= 8,
            "learner_num_gpus",
            "must be null (from device) or in [0, 8]",
        )
        require(self.worker_max_restarts >= -1, "worker_max_restarts", "must be >= -1 (-1: always)")
        require(self.torch_threads >= 1, "torch_threads", "must be >= 1")
        require(0.0 <= self.collect_epsilon <= 1.0, "collect_epsilon", "must be in [0, 1]")
        require(
            self.max_update_steps == -1 or self.max_update_steps > 0,
            "max_update_steps",
            "must be -1 or > 0",
        )
        if self.dataset is not None:
            names = [self.dataset] if isinstance(self.dataset, str) else self.dataset
            require(
                bool(names) and all(isinstance(n, str) and n.strip() for n in names),
                "dataset",
                "must name a task directory, a trajs*.npz file, a list of those or minari:<id>",
            )
            require(
                self.mp_backend == "single",
                "dataset",
                "offline training runs on the single backend; set general_cfg.mp_backend: single",
            )
        if self.mode == "train" and self.dataset is not None:
            require(
                self.max_update_steps > 0
                or (self.reward_threshold is not None and self.online_eval),
                "max_update_steps",
                "training from a dataset would never stop: set max_update_steps or reward_threshold",
            )
        elif self.mode == "train":
            require(
                self.max_env_steps > 0
                or self.max_episode > 0
                or (self.reward_threshold is not None and self.online_eval),
                "max_env_steps",
                "training would never stop: set max_env_steps, max_episode or reward_threshold",
            )
        else:
            require(
                self.load_checkpoint and bool(self.load_path),
                "load_checkpoint",
                f"mode {self.mode} needs a trained model: set load_checkpoint: true and load_path",
            )
        if self.load_checkpoint:
            require(
                bool(self.load_path), "load_path", "load_checkpoint is on but load_path is unset"
            )
        if self.reward_threshold is not None:
            require(self.online_eval, "reward_threshold", "needs online_eval: true")
        require(self.threshold_evals >= 1, "threshold_evals", "must be 1 or more")
        require(
            self.threshold_evals == 1 or self.reward_threshold is not None,
            "threshold_evals",
            "counts evaluations at reward_threshold: set reward_threshold too",
        )
