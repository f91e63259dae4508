"""Networks built from layer lists (``value_layers``, ``actor_layers``, ...), and the networks
the algorithm families share: Q-networks (scalar or per-atom, optionally dueling or noisy), the
factorized noisy linear layer (``noisy_linear`` in a layer list), actor-critics
(categorical or Gaussian heads, shared or separate trunks), continuous Q critics with
``n_critics`` members, deterministic and tanh-Gaussian actors.

A layer list is the *trunk*; the image encoder's output (C, H, W) feeds conv2d layers directly,
and the first linear layer after them flattens, so a Nature CNN is a layer list too.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from algos.base.config import LayerSpec
from algos.base.linear import Linear, linear
from config.base import UserError

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "none": nn.Identity,
}


_DIRECT = {
    nn.ReLU: F.relu,
    nn.Tanh: torch.tanh,
    nn.Sigmoid: torch.sigmoid,
    nn.SiLU: F.silu,
    nn.Identity: None,
}


class Trunk(nn.Sequential):
    """A Sequential whose forward calls linear layers and plain activations as functions.

    Acting runs one small forward pass per vector step, where ``Module.__call__`` on every
    layer (hooks, dispatch) costs about as much as the matrix products themselves. The
    result is identical; other layer types go through their module as usual.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and isinstance(next(iter(self._modules.values()), None), nn.Conv2d):
            # channels-last images: oneDNN's convolutions run about 1.3x faster on them (Nature
            # CNN, batch 256, forward and backward, CPU); the weights keep their layout
            x = x.contiguous(memory_format=torch.channels_last)
        for m in self._modules.values():
            kind = type(m)
            if kind is Linear:
                x = linear(x, m.weight, m.bias)
            elif kind in _DIRECT:
                fn = _DIRECT[kind]
                if fn is not None:
                    x = fn(x)
            else:
                x = m(x)
        return x


class NoisyLinear(nn.Module):
    """A linear layer with factorized Gaussian noise (Fortunato et al. 2018, "Noisy Networks
    for Exploration", sec. 3.2): w = mu_w + sigma_w * (f(eps_out) f(eps_in)^T) and
    b = mu_b + sigma_b * f(eps_out), with f(x) = sign(x) sqrt(|x|).

    In training mode (learning, exploring, sampling) it uses the current noise sample, which
    :meth:`reset_noise` redraws; in eval mode (greedy acting) it uses the means. The noise is
    not part of the state dict: a loaded network draws its own.
    """

    def __init__(self, in_features: int, out_features: int, sigma_init: float = 0.5):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)  # the paper's initialization for factorized noise
        self.weight_mu = nn.Parameter(
            torch.empty(out_features, in_features).uniform_(-bound, bound)
        )
        self.weight_sigma = nn.Parameter(
            torch.full((out_features, in_features), sigma_init * bound)
        )
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma_init * bound))
        # the two noise factors, eps_in then eps_out, in one buffer (one draw per reset)
        self.register_buffer("eps", torch.zeros(in_features + out_features), persistent=False)
        self.reset_noise()

    # the means under the usual names, so initializers written for nn.Linear apply
    @property
    def weight(self) -> nn.Parameter:
        return self.weight_mu

    @property
    def bias(self) -> nn.Parameter:
        return self.bias_mu

    @torch.no_grad()
    def reset_noise(self) -> None:
        """Draw a new noise sample (from torch's global generator, which the run seeds):
        f(x) = sign(x) sqrt(|x|), in place (acting redraws every vector step). Not x / sqrt(|x|):
        a draw of exactly 0 (it happens over millions of draws) gave 0/0 = NaN."""
        self.eps.normal_()
        self.eps.copy_(self.eps.sign() * self.eps.abs().sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return linear(x, self.weight_mu, self.bias_mu)
        eps_in, eps_out = self.eps[: self.in_features], self.eps[self.in_features :]
        weight = torch.addcmul(self.weight_mu, self.weight_sigma, torch.outer(eps_out, eps_in))
        return linear(x, weight, torch.addcmul(self.bias_mu, self.bias_sigma, eps_out))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def noisy_layers(module: nn.Module) -> list[NoisyLinear]:
    """The noisy layers inside ``module`` (empty for a network without any)."""
    return [m for m in module.modules() if isinstance(m, NoisyLinear)]


def build_trunk(
    input_shape: tuple[int, ...], layers: list[LayerSpec], key: str = "layers"
) -> tuple[nn.Module, int]:
    """A Trunk (Sequential) from the layer list; returns it and its flat output size.

    A linear layer after a multi-dimensional input flattens it first, so a plain list of
    linear layers works for any Box observation. ``layernorm`` normalizes over every feature of
    its input (C, H and W after a conv2d). ``key`` names the list in error messages.
    """
    modules: list[nn.Module] = []
    shape = tuple(input_shape)
    check_size(shape, layers, key)
    for i, spec in enumerate(layers):
        if spec.layer_type == "conv2d":
            if len(shape) != 3:
                raise UserError(
                    f"algo_cfg.{key}[{i}]: conv2d needs an image input [C, H, W], got shape "
                    f"{shape}; use linear layers for vector observations"
                )
            if min(shape[1:]) + 2 * spec.padding < spec.kernel_size:
                raise UserError(
                    f"algo_cfg.{key}[{i}]: kernel_size {spec.kernel_size} is larger than its "
                    f"input {shape[1:]}; use a smaller kernel_size or stride earlier"
                )
            conv = nn.Conv2d(
                shape[0], spec.layer_dim[0], spec.kernel_size, spec.stride, spec.padding
            )
            modules += [conv, ACTIVATION_MODULES[spec.activation]()]
            h = (shape[1] + 2 * spec.padding - spec.kernel_size) // spec.stride + 1
            w = (shape[2] + 2 * spec.padding - spec.kernel_size) // spec.stride + 1
            shape = (spec.layer_dim[0], h, w)
            continue
        dense = spec.layer_type in ("linear", "noisy_linear")
        if spec.layer_type == "flatten" or (dense and len(shape) > 1):
            modules.append(nn.Flatten())
            shape = (int(np.prod(shape)),)
        if dense:
            if spec.layer_type == "noisy_linear":
                layer: nn.Module = NoisyLinear(shape[0], spec.layer_dim[0], spec.sigma_init)
            else:
                layer = Linear(shape[0], spec.layer_dim[0])
            modules += [layer, ACTIVATION_MODULES[spec.activation]()]
            shape = (spec.layer_dim[0],)
        elif spec.layer_type == "layernorm":
            modules.append(nn.LayerNorm(list(shape)))
    if len(shape) > 1:
        modules.append(nn.Flatten())
    return Trunk(*modules), int(np.prod(shape))


def _available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_size(input_shape: tuple[int, ...], layers: list[LayerSpec], key: str) -> None:
    """Refuse, before allocating anything, a layer list whose parameters (with their gradients
    and Adam's two moments, float32) would not fit in the memory available."""
    shape, params = tuple(input_shape), 0
    for spec in layers:
        if spec.layer_type == "conv2d" and len(shape) == 3:
            k, p, s, c = spec.kernel_size, spec.padding, spec.stride, spec.layer_dim[0]
            params += k * k * shape[0] * c + c
            shape = (c, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif spec.layer_type == "linear":
            n_in = int(np.prod(shape))
            params += n_in * spec.layer_dim[0] + spec.layer_dim[0]
            shape = (spec.layer_dim[0],)
        elif spec.layer_type == "flatten":
            shape = (int(np.prod(shape)),)
        elif spec.layer_type == "layernorm":
            params += 2 * int(np.prod(shape))
    need, have = 16 * params, _available_bytes()
    if have is not None and need > have:
        raise UserError(
            f"algo_cfg.{key}: {params:,} parameters need about {need / 2**30:.1f} GiB with "
            f"their gradients and optimizer state, more than the {have / 2**30:.1f} GiB "
            "available; use smaller layers"
        )


def orthogonal_init(module: nn.Module, head: nn.Module | None = None, head_gain: float = 1.0):
    """Orthogonal weights, zero biases: gain sqrt(2) for hidden layers, head_gain for the head
    (CleanRL / SB3 convention: 0.01 for a policy head, 1 for a value head)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, math.sqrt(2))
            nn.init.zeros_(m.bias)
    if head is not None:
        nn.init.orthogonal_(head.weight, head_gain)
        nn.init.zeros_(head.bias)


class QHead(nn.Module):
    """Q-values from features h [..., hidden]: [..., n_actions], or [..., n_actions, atoms] with
    ``atoms`` > 1 (a distributional head's logits or quantiles). ``dueling`` adds a state-value
    stream, Q = V + A - mean_a(A), per atom (Wang et al. 2016; per atom as in Rainbow);
    ``noisy`` makes both output layers :class:`NoisyLinear`."""

    def __init__(
        self,
        hidden: int,
        n_actions: int,
        atoms: int = 1,
        dueling: bool = False,
        noisy: bool = False,
        sigma_init: float = 0.5,
    ):
        super().__init__()
        self.n_actions, self.atoms = n_actions, atoms

        def layer(n_in: int, n_out: int) -> nn.Module:
            return NoisyLinear(n_in, n_out, sigma_init) if noisy else Linear(n_in, n_out)

        self.head = layer(hidden, n_actions * atoms)
        self.value = layer(hidden, atoms) if dueling else None

    def q_from(self, h: torch.Tensor) -> torch.Tensor:
        q = self.head(h)
        if self.atoms > 1:
            q = q.view(*h.shape[:-1], self.n_actions, self.atoms)
        if self.value is not None:
            v = self.value(h)  # [..., atoms] or [..., 1]
            if self.atoms > 1:  # per atom: [..., 1, atoms] against [..., n_actions, atoms]
                return v.unsqueeze(-2) + q - q.mean(dim=-2, keepdim=True)
            q = v + q - q.mean(dim=-1, keepdim=True)
        return q

    forward = q_from


class QNetwork(QHead):
    """Q(s, .) for discrete actions: a trunk from the layer list, then a :class:`QHead`:
    [B, n_actions], or [B, n_actions, atoms] with ``atoms`` > 1."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        layers: list[LayerSpec],
        n_actions: int,
        dueling: bool = False,
        atoms: int = 1,
        ortho_init: bool = False,
        key: str = "value_layers",
        noisy: bool = False,
        sigma_init: float = 0.5,
    ):
        trunk, hidden = build_trunk(obs_shape, layers, key)
        super().__init__(hidden, n_actions, atoms, dueling, noisy, sigma_init)
        self.trunk = trunk
        if ortho_init:
            orthogonal_init(self.trunk, self.head, 1.0)
            if self.value is not None:  # the dueling value stream is an output head too
                orthogonal_init(nn.Identity(), self.value, 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_from(self.trunk(obs))


class ActorCritic(nn.Module):
    """A policy head (logits, or a Gaussian mean with a state-independent log std) and a value
    head, on separate trunks or one shared trunk.

    With ``sde`` (generalized state-dependent exploration, Raffin et al. 2022; Box actions)
    ``log_std`` is a [features, actions] matrix: the exploration noise is the actor's last
    hidden features h(s) times a matrix W drawn from N(0, exp(log_std)^2) and held for several
    steps, so the action's std is sqrt(h(s)^2 @ exp(log_std)^2) (``sde_log_std``)."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        actor_layers: list[LayerSpec],
        critic_layers: list[LayerSpec],
        action_dim: int,
        continuous: bool,
        shared_trunk: bool = False,
        log_std_init: float = 0.0,
        ortho_init: bool = False,
        sde: bool = False,
    ):
        super().__init__()
        self.actor_trunk, h_actor = build_trunk(obs_shape, actor_layers, "actor_layers")
        if shared_trunk:
            self.critic_trunk, h_critic = self.actor_trunk, h_actor
        else:
            self.critic_trunk, h_critic = build_trunk(obs_shape, critic_layers, "critic_layers")
        self.actor_head = Linear(h_actor, action_dim)
        self.critic_head = Linear(h_critic, 1)
        self.continuous = continuous
        self.sde = sde and continuous
        if continuous:
            shape = (h_actor, action_dim) if self.sde else (action_dim,)
            self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)))
        if ortho_init:
            orthogonal_init(self.actor_trunk, self.actor_head, 0.01)
            orthogonal_init(self.critic_trunk, self.critic_head, 1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self.critic_trunk(obs)).squeeze(-1)

    def heads(
        self, obs: torch.Tensor, value: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The actor's last hidden features, its output (logits or mean) and, when ``value``,
        V(s): a shared trunk runs once (for a CNN, the trunk is nearly all of the cost)."""
        h = self.actor_trunk(obs)
        v = None
        if value:
            h_critic = h if self.critic_trunk is self.actor_trunk else self.critic_trunk(obs)
            v = self.critic_head(h_critic).squeeze(-1)
        return h, self.actor_head(h), v

    def sde_log_std(self, h: torch.Tensor) -> torch.Tensor:
        """Box actions: the per-sample log std of the actions given the actor's features ``h``
        (gSDE; the features pass no gradient to the variance), else the shared ``log_std``."""
        if not self.sde:
            return self.log_std
        variance = h.detach().pow(2) @ torch.exp(2 * self.log_std)
        return 0.5 * torch.log(variance + 1e-6)


ACTIVATION_FUNCTIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "none": None,
}


class ContinuousCritic(nn.Module):
    """``n_critics`` independent Q(s, a) networks on [obs, action]; returns [n_critics, B].
    Actions are in env units (as replay stores them).

    The members are evaluated together: each layer keeps the weights of all members stacked
    ([n, in, out]) and applies them with one batched matrix product, so twin critics cost one
    op per layer instead of two, forward and backward (the update step of SAC and TD3 runs the
    critics three times). Each member is initialized as ``nn.Linear`` would be, independently.
    The layer list may hold linear and layernorm layers (the input is a vector).
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        action_dim: int,
        layers: list[LayerSpec],
        n_critics: int = 2,
        key: str = "critic_layers",
    ):
        super().__init__()
        if len(obs_shape) != 1:
            raise UserError(
                f"algo_cfg.{key}: continuous critics take vector observations, got shape "
                f"{obs_shape}"
            )
        self.n_critics = n = n_critics
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.plan: list[tuple[str, int, object]] = []  # (kind, parameter index, activation)
        width = obs_shape[0] + action_dim
        for i, spec in enumerate(layers):
            if spec.layer_type == "linear":
                out = spec.layer_dim[0]
                self.plan.append(
                    ("linear", len(self.weights), ACTIVATION_FUNCTIONS[spec.activation])
                )
                self._add_linear(n, width, out)
                width = out
            elif spec.layer_type == "layernorm":
                self.plan.append(("layernorm", len(self.weights), None))
                self.weights.append(nn.Parameter(torch.ones(n, 1, width)))
                self.biases.append(nn.Parameter(torch.zeros(n, 1, width)))
            elif spec.layer_type != "flatten":
                raise UserError(
                    f"algo_cfg.{key}[{i}]: continuous critics take linear and layernorm layers, "
                    f"not {spec.layer_type}"
                )
        self.head = len(self.weights)
        self._add_linear(n, width, 1)

    def _add_linear(self, n: int, fan_in: int, fan_out: int) -> None:
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialization, per member
        self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
        self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, members: int | None = None
    ) -> torch.Tensor:
        """Q-values [n, B] of the first ``members`` critics (all by default; TD3's actor loss
        needs only the first)."""
        n = self.n_critics if members is None else members
        x = torch.cat([obs, actions], dim=-1)
        h = x.expand(n, *x.shape)
        for kind, i, act in self.plan:
            w, b = self.weights[i], self.biases[i]
            if n != self.n_critics:
                w, b = w[:n], b[:n]
            if kind == "linear":
                h = torch.baddbmm(b, h, w)
                if act is not None:
                    h = act(h)
            else:
                h = torch.addcmul(b, F.layer_norm(h, h.shape[-1:]), w)
        w, b = self.weights[self.head], self.biases[self.head]
        if n != self.n_critics:
            w, b = w[:n], b[:n]
        return torch.baddbmm(b, h, w).squeeze(-1)


class DeterministicActor(nn.Module):
    """a = scale(tanh(f(s))): actions inside the Box bounds (TD3, DDPG)."""

    def __init__(
        self,
        obs_shape,
        layers: list[LayerSpec],
        action_dim: int,
        scaler: nn.Module,
        key: str = "actor_layers",
    ):
        super().__init__()
        self.trunk, hidden = build_trunk(obs_shape, layers, key)
        self.head = Linear(hidden, action_dim)
        self.scaler = scaler

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        return self.scaler.scale(torch.tanh(linear(h, self.head.weight, self.head.bias)))


class GaussianActorHead(nn.Module):
    """Mean and state-dependent log std, log std squashed into [log_std_min, log_std_max]
    (SAC; CleanRL's bounds by default)."""

    def __init__(
        self,
        obs_shape,
        layers: list[LayerSpec],
        action_dim: int,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        key: str = "actor_layers",
    ):
        super().__init__()
        self.trunk, hidden = build_trunk(obs_shape, layers, key)
        self.head = Linear(hidden, 2 * action_dim)  # mean and log std: one matrix product
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        mean, log_std = linear(h, self.head.weight, self.head.bias).chunk(2, dim=-1)
        log_std = torch.tanh(log_std)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (log_std + 1)
        return mean, log_std


class Temperature(nn.Module):
    """SAC's entropy temperature alpha = exp(log_alpha): one learnable parameter, registered as
    a network so that it is saved in checkpoints with the others."""

    def __init__(self, alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha), dtype=torch.float32))

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def loss(self, entropy_gap: torch.Tensor) -> torch.Tensor:
        """Automatic entropy tuning (Haarnoja et al. 2018b): minimize
        -log_alpha * (log pi + target_entropy), i.e. raise alpha while the policy's entropy is
        below the target and lower it above. ``entropy_gap`` is log pi + target_entropy per
        sample (for a categorical policy, its expectation over actions)."""
        return -(self.log_alpha * entropy_gap.detach()).mean()
