"""Config sections shared by the algorithm families.

The hierarchy follows the policy contract, so that ``python main.py --keys`` shows an algorithm
only the keys it reads:

- :class:`BaseAlgoConfig`: every algorithm (tabular ones too): discount, learning-reward
  transforms.
- :class:`TorchAlgoConfig`: algorithms with networks: optimizer, gradient clipping, learning-rate
  schedule, observation normalization, initialization.
- :class:`OffPolicyConfig`: replay, n-step returns, update cadence, target networks.
- :class:`OnPolicyConfig`: rollouts, advantages, epochs x minibatches, value and entropy terms.

``LayerSpec`` lists describe networks for every torch algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from config.base import BaseConfig, FieldError, require

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "silu", "softplus", "none")
LAYER_TYPES = ("linear", "noisy_linear", "conv2d", "flatten", "layernorm")


@dataclass
class LayerSpec(BaseConfig):
    """One layer of a network, e.g. ``{layer_type: linear, layer_dim: [256], activation: relu}``."""

    layer_type: Literal["linear", "noisy_linear", "conv2d", "flatten", "layernorm"] = "linear"
    """linear, noisy_linear (factorized Gaussian noise on weights and biases, Fortunato et al.
    2018: exploration by noise, means only in greedy acting), conv2d (input [C, H, W]), flatten
    or layernorm (over every feature of its input)."""
    layer_dim: list[int] = field(default_factory=list)
    """linear, noisy_linear: [units]; conv2d: [out_channels]; unused by flatten and layernorm."""
    activation: str = "relu"
    """One of relu, tanh, sigmoid, elu, leaky_relu, gelu, silu, softplus, none."""
    kernel_size: int = 3
    """conv2d only: kernel size."""
    stride: int = 1
    """conv2d only: stride."""
    padding: int = 0
    """conv2d only: zero padding."""
    sigma_init: float = 0.5
    """noisy_linear only: initial noise scale; sigma starts at sigma_init / sqrt(fan_in) (0.5 in
    the paper for factorized noise)."""

    def check(self) -> None:
        require(
            self.activation in ACTIVATIONS,
            "activation",
            f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}",
        )
        if self.layer_type in ("linear", "noisy_linear", "conv2d"):
            require(
                len(self.layer_dim) == 1 and self.layer_dim[0] > 0,
                "layer_dim",
                f"{self.layer_type} needs layer_dim: [size] with size > 0",
            )
        if self.layer_type == "conv2d":
            require(self.kernel_size > 0 and self.stride > 0, "kernel_size", "must be > 0")
            require(self.padding >= 0, "padding", "must be >= 0")
        require(self.sigma_init > 0, "sigma_init", f"must be > 0, got {self.sigma_init}")

    @classmethod
    def from_value(cls, value, path):
        obj = super().from_value(value, path)
        try:
            obj.check()
        except FieldError as err:
            raise FieldError(f"{path}.{err.key}", err.message) from None
        return obj


def mlp(*sizes: int, activation: str = "relu") -> list[LayerSpec]:
    """Layer list of linear layers, for defaults."""
    return [LayerSpec("linear", [s], activation) for s in sizes]


@dataclass
class BaseAlgoConfig(BaseConfig):
    """Fields every algorithm reads; an algorithm's config derives from this or a subclass."""

    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    reward_scale: bool = False
    """Divide rewards by the running std of the discounted return (learning only; logs and
    trajectories keep raw rewards)."""
    reward_clip: float | None = None
    """Clip (scaled) rewards to [-c, c] for learning (null: off)."""

    def check(self) -> None:
        require(0.0 <= self.gamma <= 1.0, "gamma", f"must be in [0, 1], got {self.gamma}")
        require(self.reward_clip is None or self.reward_clip > 0, "reward_clip", "must be > 0")


@dataclass
class TorchAlgoConfig(BaseAlgoConfig):
    """Fields of every algorithm with networks and optimizers."""

    lr: float = 3e-4
    """Learning rate of the optimizer (Adam); the schedule scales every optimizer's base rate."""
    batch_size: int = 64
    """Samples per gradient step (on-policy: minibatch size)."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global L2 norm (null: off)."""
    grad_clip_value: float | None = None
    """Clip each gradient element to [-v, v] (null: off)."""
    lr_schedule: Literal["constant", "linear"] = "constant"
    """constant; linear: decay every learning rate by the factor lr_end / lr over the budget."""
    lr_end: float = 0.0
    """Floor of the linear schedule (for the main lr; other rates are scaled alike)."""
    obs_norm: bool = False
    """Normalize observations by running mean and std (vector observations; updated while training
    only; saved in every checkpoint; frozen in evaluation, test, render and collection)."""
    obs_norm_clip: float = 10.0
    """Clip normalized observations to [-c, c]."""
    ortho_init: bool = False
    """Orthogonal weight initialization (hidden gain sqrt(2), policy head 0.01, value head 1)."""

    def check(self) -> None:
        super().check()
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(0 <= self.lr_end <= self.lr, "lr_end", "must be in [0, lr]")
        require(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        require(
            self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be > 0"
        )
        require(
            self.grad_clip_value is None or self.grad_clip_value > 0,
            "grad_clip_value",
            "must be > 0",
        )
        require(self.obs_norm_clip > 0, "obs_norm_clip", "must be > 0")


@dataclass
class OffPolicyConfig(TorchAlgoConfig):
    """Replay-based learning: what is stored, how often and how much the policy learns."""

    buffer_type: Literal["REPLAY_QUE", "PER_QUE"] = "REPLAY_QUE"
    """REPLAY_QUE: uniform replay; PER_QUE: prioritized replay (proportional, with IS weights)."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    learning_starts: int = 1_000
    """Warm-up: training acts uniformly at random for this many env steps, and no update runs
    before the buffer holds this many transitions."""
    train_freq: int = 256
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 16
    """Gradient steps per learning phase (update-to-data ratio = gradient_steps / train_freq)."""
    n_step: int = 1
    """n-step returns (truncated at episode ends; bootstraps on time-limit truncation)."""
    tau: float = 1.0
    """Target networks: Polyak factor; 1 copies every target_update steps, < 1 blends every
    update step."""
    target_update: int = 1
    """Update steps between hard target-network copies (used when tau is 1)."""
    per_alpha: float = 0.6
    """PER_QUE: priority exponent."""
    per_beta: float = 0.4
    """PER_QUE: initial importance-sampling exponent, annealed to 1 over the budget."""

    def check(self) -> None:
        super().check()
        require(self.buffer_size >= self.batch_size, "buffer_size", "must be >= batch_size")
        require(self.learning_starts >= 0, "learning_starts", "must be >= 0")
        require(self.train_freq > 0, "train_freq", "must be > 0")
        require(self.gradient_steps > 0, "gradient_steps", "must be > 0")
        require(self.n_step >= 1, "n_step", "must be >= 1")
        require(0.0 < self.tau <= 1.0, "tau", "must be in (0, 1]")
        require(self.target_update > 0, "target_update", "must be > 0")
        require(self.per_alpha >= 0, "per_alpha", "must be >= 0")
        require(0 <= self.per_beta <= 1, "per_beta", "must be in [0, 1]")


@dataclass
class SoftActorCriticConfig(OffPolicyConfig):
    """Fields SAC and discrete SAC share: actor and twin critics with their own learning rates,
    and an entropy temperature that is fixed or tuned (Haarnoja et al. 2018b)."""

    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the actor (its output heads are added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of each critic (its output head is added)."""
    lr: float = 3e-4
    """Learning rate of the actor (Adam); the schedule scales every rate alike."""
    critic_lr: float | None = None
    """Learning rate of the critics (null: lr)."""
    alpha_lr: float | None = None
    """Learning rate of log(alpha) with autotune (null: lr)."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off, as in the paper)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    n_critics: int = 2
    """Critics; targets and the actor's loss take their minimum (clipped double Q-learning)."""
    alpha: float = 0.2
    """Entropy temperature: fixed (autotune off) or its initial value."""
    autotune: bool = True
    """Tune alpha to keep the policy's entropy near the algorithm's entropy target."""

    def check(self) -> None:
        super().check()
        for key in ("critic_lr", "alpha_lr"):
            require(getattr(self, key) is None or getattr(self, key) > 0, key, "must be > 0")
        require(self.n_critics >= 1, "n_critics", "must be >= 1")
        require(self.alpha > 0, "alpha", "must be > 0")


@dataclass
class OnPolicyConfig(TorchAlgoConfig):
    """Rollout-based learning: collect with the current policy, learn, discard."""

    n_steps: int = 128
    """Env steps per env per rollout (the rollout holds n_steps * n_envs transitions)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    batch_size: int = 256
    """Minibatch size (the rollout is split into minibatches of this size each epoch)."""
    advantage: Literal["gae", "mc"] = "gae"
    """gae: Generalized Advantage Estimation with gae_lambda; mc: discounted Monte-Carlo returns
    minus the value baseline (bootstrapped only at time-limit truncations and the rollout's end)."""
    gae_lambda: float = 0.95
    """GAE lambda (1: Monte-Carlo returns, 0: one-step TD)."""
    norm_adv: Literal["minibatch", "batch", "off"] = "minibatch"
    """Advantage standardization per minibatch, per whole batch, or off."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient (start value when ent_coef_end is set)."""
    ent_coef_end: float | None = None
    """Decay the entropy coefficient linearly to this over the budget (null: constant)."""
    log_std_init: float = 0.0
    """Box actions: initial log std of the Gaussian policy (state-independent; with use_sde,
    of every entry of the exploration matrix's std)."""
    use_sde: bool = False
    """Box actions: generalized state-dependent exploration (gSDE, Raffin et al. 2022): the
    noise is the actor's last hidden features times a random matrix held for sde_sample_freq
    steps, so exploration is smooth in time and its scale depends on the state."""
    sde_sample_freq: int = -1
    """With use_sde: draw new exploration matrices every this many env steps per env (-1: once
    per rollout, at its start)."""
    max_grad_norm: float | None = 0.5
    """Clip gradients to this global L2 norm (null: off)."""

    def check(self) -> None:
        super().check()
        require(self.n_steps > 0, "n_steps", "must be > 0")
        require(self.n_epochs > 0, "n_epochs", "must be > 0")
        require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", "must be in [0, 1]")
        require(self.vf_coef >= 0, "vf_coef", "must be >= 0")
        require(self.ent_coef >= 0, "ent_coef", "must be >= 0")
        require(self.ent_coef_end is None or self.ent_coef_end >= 0, "ent_coef_end", "must be >= 0")
        require(
            self.sde_sample_freq == -1 or self.sde_sample_freq > 0,
            "sde_sample_freq",
            "must be -1 (once per rollout) or > 0",
        )
        require(
            self.use_sde or self.sde_sample_freq == -1, "sde_sample_freq", "needs use_sde: true"
        )


@dataclass
class TabularConfig(BaseAlgoConfig):
    """Table-based learning on Discrete observations: no networks, no optimizer."""

    alpha: float = 0.1
    """Step size of the table update (the tabular learning rate)."""
    alpha_end: float | None = None
    """Decay alpha linearly to this over the budget (null: constant)."""
    epsilon_start: float = 1.0
    """Initial exploration rate (epsilon-greedy)."""
    epsilon_end: float = 0.05
    """Final exploration rate."""
    epsilon_decay: int = 10_000
    """Exponential decay constant in env steps: eps = end + (start - end) * exp(-steps / decay)."""
    q_init: float = 0.0
    """Initial value of every table entry (optimistic values explore more)."""
    train_freq: int = 1
    """Vector steps collected between two table updates."""

    def check(self) -> None:
        super().check()
        require(0 < self.alpha <= 1, "alpha", "must be in (0, 1]")
        require(
            self.alpha_end is None or 0 <= self.alpha_end <= self.alpha,
            "alpha_end",
            "must be in [0, alpha]",
        )
        for key in ("epsilon_start", "epsilon_end"):
            require(0.0 <= getattr(self, key) <= 1.0, key, "must be in [0, 1]")
        require(self.epsilon_decay > 0, "epsilon_decay", "must be > 0")
        require(self.train_freq > 0, "train_freq", "must be > 0")
