"""The on-policy base: rollouts, advantages, epochs x minibatches around an abstract loss.

An on-policy algorithm (PPO, A2C, REINFORCE) builds an :class:`~algos.base.networks.ActorCritic`
(or anything with ``heads(obs, value)``, ``value(obs)`` and, for Box actions, ``log_std`` and
``sde_log_std(h)``) through :meth:`build_actor_critic`, and writes ``loss(mb) -> (loss,
stats)``; this base does the rest:

- acting: a categorical or diagonal-Gaussian sample (``explore``/``sample``) or the mode
  (``greedy``); Box actions reach the env clipped to the bounds by the action scaler, while the
  raw sample travels in the extras (``raw_action``) with its ``log_prob`` for the ratio; with
  ``use_sde`` (gSDE) ``explore`` adds the actor's features times exploration matrices held for
  ``sde_sample_freq`` steps (one per env), ``sample`` draws from the state-dependent Gaussian;
- storage: the rollout as collected (``n_steps`` per env; one part per Ray worker);
- learning: V(s) and V(s') in one forward pass (with a shared trunk V(s) comes with the actions,
  and only final observations need a pass), advantages by GAE or Monte-Carlo returns
  (``advantage``), optional per-batch standardization, then ``n_epochs`` passes of minibatches
  of ``batch_size``, each one ``optimize`` step of ``loss``; ``stop_epochs`` ends the passes
  early (PPO's KL limit).
"""

from __future__ import annotations

import numpy as np
import torch

from algos.base.config import OnPolicyConfig
from algos.base.distributions import (
    categorical_log_prob_entropy,
    categorical_sample,
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_sample,
)
from algos.base.networks import ActorCritic
from algos.base.policy import ActMode
from algos.base.returns import compute_gae, compute_mc_returns
from algos.base.scaler import ActionScaler
from algos.base.spaces import UnsupportedSpace
from algos.base.torch_policy import TorchPolicy
from framework.data.buffers import RolloutBuffer
from framework.data.types import ActOutput, BufferStatus, LearnOutput, StepBatch


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit std (advantage normalization, per minibatch or per batch)."""
    return (x - x.mean()) / (x.std() + 1e-8)


class Minibatch:
    """One minibatch of a rollout on the device (flat [B] rows): encoded observations, actions
    in policy units (the raw sample for Box actions), their log-probabilities at collection
    time, advantages, returns and values at collection time."""

    __slots__ = ("obs", "actions", "old_log_prob", "advantages", "returns", "old_values")

    def __init__(self, obs, actions, old_log_prob, advantages, returns, old_values):
        self.obs, self.actions, self.old_log_prob = obs, actions, old_log_prob
        self.advantages, self.returns, self.old_values = advantages, returns, old_values


class OnPolicyPolicy(TorchPolicy):
    cfg: OnPolicyConfig
    obs_kinds = ("vector", "image", "discrete")
    action_kinds = ("discrete", "box")
    stochastic = True

    def __init__(self, cfg: OnPolicyConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.continuous = self.action_kind == "box"
        if self.continuous:
            self.action_dim = int(action_space.shape[0])
            self.scaler = ActionScaler(action_space, squash=False, algo=self.name)
        else:
            self.action_dim = int(action_space.n)
            self.action_start = int(action_space.start)
            if cfg.use_sde:
                raise UnsupportedSpace(
                    f"algo_cfg.use_sde needs Box actions, but the env's action space is "
                    f"{action_space}; set algo_cfg.use_sde: false",
                    "option",
                )
        self.stop_epochs = False
        # gSDE: exploration matrices [n_envs, features, actions] and explore steps since drawn
        self.sde_noise: torch.Tensor | None = None
        self.sde_steps = 0

    def build_actor_critic(
        self, actor_layers, critic_layers, shared_trunk=False, optimizer: str = "adam", **optim_kw
    ) -> ActorCritic:
        """The actor-critic network and its optimizer (``optimizer``: adam or rmsprop with
        ``optim_kw``; eps 1e-5 unless given)."""
        c = self.cfg
        ac = ActorCritic(
            self.obs_shape,
            actor_layers,
            critic_layers,
            self.action_dim,
            self.continuous,
            shared_trunk,
            c.log_std_init,
            c.ortho_init,
            c.use_sde,
        )
        self.ac = self.add_network("ac", ac, acting=True)
        optim_kw.setdefault("eps", 1e-5)
        self.add_optimizer("ac", self.ac.parameters(), c.lr, optimizer, **optim_kw)
        # a shared trunk gives V(s) with each action for the price of the value head: acting
        # keeps it (extras["value"]) and learning skips most of its value pass (CleanRL does so)
        self.values_at_act = shared_trunk
        return self.ac

    # ---- acting ---------------------------------------------------------------------------
    @property
    def exploration(self) -> str:
        return "sampled"

    def act(self, obs: np.ndarray, mode: ActMode = "explore") -> ActOutput:
        self.set_training(mode != "greedy")
        extras: dict[str, np.ndarray] = {}
        with torch.no_grad():
            x = self.preprocess(obs)
            h, out, value = self.ac.heads(x, value=self.values_at_act and mode == "explore")
            if value is not None:
                extras["value"] = value.cpu().numpy()
            if self.continuous:
                if mode == "greedy":
                    return ActOutput(self.scaler.clip_np(out.cpu().numpy()), {})
                log_std = self.ac.sde_log_std(h)
                if self.ac.sde and mode == "explore":
                    raw = out + torch.bmm(h.unsqueeze(1), self.sde_matrices(len(h))).squeeze(1)
                    log_prob = gaussian_log_prob(out, log_std, raw)
                else:
                    raw, log_prob = gaussian_sample(out, log_std)
                raw = raw.cpu().numpy()
                extras.update(raw_action=raw, log_prob=log_prob.cpu().numpy())
                return ActOutput(self.scaler.clip_np(raw), extras)
            if mode == "greedy":
                return ActOutput(out.argmax(dim=-1).cpu().numpy() + self.action_start, {})
            action, log_prob = categorical_sample(out)
        extras["log_prob"] = log_prob.cpu().numpy()
        return ActOutput(action.cpu().numpy() + self.action_start, extras)

    def sde_matrices(self, n: int) -> torch.Tensor:
        """gSDE's exploration matrices for ``n`` envs, drawn anew every ``sde_sample_freq``
        explore steps (-1: every rollout of ``n_steps``) or when the number of envs changes."""
        period = self.cfg.sde_sample_freq if self.cfg.sde_sample_freq > 0 else self.cfg.n_steps
        if self.sde_noise is None or len(self.sde_noise) != n or self.sde_steps % period == 0:
            std = self.ac.log_std.exp()
            self.sde_noise = torch.randn((n, *std.shape), device=std.device) * std
            self.sde_steps = 0
        self.sde_steps += 1
        return self.sde_noise

    def extra_state(self) -> dict:
        if self.sde_noise is None:
            return {}
        return {"sde_noise": self.sde_noise.cpu(), "sde_steps": self.sde_steps}

    def load_extra_state(self, state: dict) -> None:
        if "sde_noise" in state:
            self.sde_noise = state["sde_noise"].to(self.device)
            self.sde_steps = int(state["sde_steps"])

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor):
        """Log-probabilities of ``actions`` (policy units) and entropies under the current policy."""
        h, out, _ = self.ac.heads(obs, value=False)
        return self._log_prob_entropy(h, out, actions)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor):
        """Log-probabilities of ``actions``, entropies and values under the current policy, with
        one pass of a shared trunk."""
        h, out, value = self.ac.heads(obs, value=True)
        return (*self._log_prob_entropy(h, out, actions), value)

    def _log_prob_entropy(self, h: torch.Tensor, out: torch.Tensor, actions: torch.Tensor):
        if self.continuous:
            log_std = self.ac.sde_log_std(h)
            return gaussian_log_prob(out, log_std, actions), gaussian_entropy(
                log_std, out.shape[:1]
            )
        return categorical_log_prob_entropy(out, actions)

    # ---- data -----------------------------------------------------------------------------
    def make_buffer(self, parts_per_update: int = 1) -> RolloutBuffer:
        return RolloutBuffer(parts_per_update)

    def collect_steps(self, n_envs: int) -> int:
        return self.cfg.n_steps

    def updates_due(self, status: BufferStatus) -> int:
        return 1 if status.ready else 0

    @property
    def ent_coef(self) -> float:
        c = self.cfg
        if c.ent_coef_end is None:
            return c.ent_coef
        return c.ent_coef + (c.ent_coef_end - c.ent_coef) * self.progress

    # ---- learning -------------------------------------------------------------------------
    def advantages(self, batch: StepBatch, values: np.ndarray, next_values: np.ndarray):
        c = self.cfg
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        if c.advantage == "mc":
            returns = compute_mc_returns(
                rewards, next_values, batch.terminated, batch.truncated, c.gamma
            )
            return returns - values, returns
        adv = compute_gae(
            rewards,
            values,
            next_values,
            batch.terminated,
            batch.terminated | batch.truncated,
            c.gamma,
            c.gae_lambda,
        )
        return adv, adv + values

    def learn(self, batch: StepBatch) -> LearnOutput:
        c = self.cfg
        self.set_training(True)
        T, N = batch.rewards.shape
        flat = lambda a: a.reshape(T * N, *a.shape[2:])  # noqa: E731
        # observations staged on the device in their stored dtype and made network inputs
        # per minibatch: a Pong rollout's 1024 stacks stay 29 MB of uint8 instead of 115 MB of
        # floats, and a minibatch gathers its rows as uint8 before converting them
        encoder = self.encoder
        if "value" in batch.extras:  # V(s) from acting
            b_obs = encoder.stage(flat(batch.obs))
            values, next_values = batch.extras["value"], self.next_values(batch)
        else:
            obs_all = encoder.stage(np.concatenate([flat(batch.obs), flat(batch.next_obs)]))
            with torch.no_grad():  # V(s) and V(s') in one pass
                v_all = self.ac.value(encoder.finish(obs_all)).cpu().numpy()
            b_obs = obs_all[: T * N]
            values, next_values = v_all[: T * N].reshape(T, N), v_all[T * N :].reshape(T, N)
        adv, returns = self.advantages(batch, values, next_values)
        dev = self.device
        actions = (
            batch.extras["raw_action"] if self.continuous else batch.actions - self.action_start
        )
        b_act = torch.as_tensor(flat(actions), device=dev)
        b_logp = torch.as_tensor(flat(batch.extras["log_prob"]), device=dev)
        b_adv = torch.as_tensor(flat(adv), device=dev)
        b_ret = torch.as_tensor(flat(returns), device=dev)
        b_val = torch.as_tensor(flat(values), device=dev)
        if c.norm_adv == "batch":
            b_adv = standardize(b_adv)
        lr = self.apply_lr()
        size = T * N
        mb = min(c.batch_size, size)
        stats: dict[str, list[float]] = {}
        self.stop_epochs = False
        for _epoch in range(c.n_epochs):
            perm = torch.randperm(size, device=dev)
            for start in range(0, size, mb):
                idx = perm[start : start + mb]
                a = b_adv[idx]
                if c.norm_adv == "minibatch" and len(idx) > 1:
                    a = standardize(a)
                obs = encoder.finish(b_obs[idx])
                loss, mb_stats = self.loss(
                    Minibatch(obs, b_act[idx], b_logp[idx], a, b_ret[idx], b_val[idx])
                )
                self.optimize("ac", loss)
                for k, v in mb_stats.items():
                    stats.setdefault(k, []).append(v)
                if self.stop_epochs:
                    break
            if self.stop_epochs:
                break
        self.update_step += 1
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        self.after_update(metrics)
        y, y_pred = returns.ravel(), values.ravel()
        var_y = float(np.var(y))
        metrics.update(
            lr=lr,
            ent_coef=self.ent_coef,
            explained_var=float("nan") if var_y == 0 else 1 - float(np.var(y - y_pred)) / var_y,
        )
        return LearnOutput(metrics)

    def next_values(self, batch: StepBatch) -> np.ndarray:
        """V(s') of every step when V(s) came with the actions: where the episode goes on, s'
        is the next step's s; only final observations and the last step's need a pass."""
        values = batch.extras["value"]
        out = np.empty_like(values)
        out[:-1] = values[1:]
        need = batch.terminated | batch.truncated
        need[-1] = True
        rows = np.flatnonzero(need)  # into the flat [T * N] view
        next_obs = batch.next_obs.reshape(-1, *batch.next_obs.shape[2:])[rows]
        with torch.no_grad():
            out.reshape(-1)[rows] = self.ac.value(self.preprocess(next_obs)).cpu().numpy()
        return out

    def loss(self, mb: Minibatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one minibatch and its statistics (floats); set ``self.stop_epochs`` to
        end the epochs early."""
        raise NotImplementedError

    def after_update(self, metrics: dict[str, float]) -> None:
        """Called after each update with its mean statistics (e.g. to adapt the learning rate)."""
