"""PPO (Schulman et al. 2017): clipped objective, GAE, minibatch epochs; discrete actions
(categorical) and Box actions (Gaussian with a state-independent log std).

Follows the "37 implementation details" (Huang et al. 2022): advantage normalization, value
clipping, global gradient clipping, orthogonal init and schedules are config switches.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal

from algos.base.networks import build_trunk, orthogonal_init
from algos.base.optim import Adam
from algos.base.policy import BasePolicy, UnsupportedSpace
from algos.base.returns import compute_gae
from algos.PPO.config import AlgoConfig
from framework.buffers import RolloutBuffer
from framework.data import LearnOutput, StepBatch

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit std (advantage normalization, per minibatch or per batch)."""
    return (x - x.mean()) / (x.std() + 1e-8)


def value_loss(
    v: torch.Tensor, old_v: torch.Tensor, returns: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """0.5 * squared error to the returns; with ``clip``, the pessimistic maximum with the error
    of the value moved at most ``clip`` from the value at collection time (PPO2 / CleanRL)."""
    loss = (v - returns) ** 2
    if clip is not None:
        v_clipped = old_v + (v - old_v).clamp(-clip, clip)
        loss = torch.max(loss, (v_clipped - returns) ** 2)
    return 0.5 * loss.mean()


class ActorCritic(nn.Module):
    def __init__(self, obs_shape, cfg: AlgoConfig, action_dim: int, continuous: bool):
        super().__init__()
        self.actor_trunk, h_actor = build_trunk(obs_shape, cfg.actor_layers)
        if cfg.shared_trunk:
            self.critic_trunk, h_critic = self.actor_trunk, h_actor
        else:
            self.critic_trunk, h_critic = build_trunk(obs_shape, cfg.critic_layers)
        self.actor_head = nn.Linear(h_actor, action_dim)
        self.critic_head = nn.Linear(h_critic, 1)
        self.continuous = continuous
        if continuous:
            self.log_std = nn.Parameter(torch.full((action_dim,), cfg.log_std_init))
        if cfg.ortho_init:
            orthogonal_init(self.actor_trunk, self.actor_head, 0.01)
            orthogonal_init(self.critic_trunk, self.critic_head, 1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self.critic_trunk(obs)).squeeze(-1)

    def dist(self, obs: torch.Tensor):
        out = self.actor_head(self.actor_trunk(obs))
        if self.continuous:
            return Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
        return Categorical(logits=out, validate_args=False)


class Policy(BasePolicy):
    on_policy = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, device="cpu", **kwargs):
        super().__init__(cfg, obs_space, action_space, device, **kwargs)
        if isinstance(action_space, gym.spaces.Discrete):
            self.continuous, action_dim = False, int(action_space.n)
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            self.continuous, action_dim = True, int(action_space.shape[0])
        else:
            raise UnsupportedSpace(
                f"PPO needs a Discrete or 1-D Box action space, got {action_space}"
            )
        self.ac = ActorCritic(self.obs_shape, cfg, action_dim, self.continuous).to(self.device)
        self.optim = Adam(self.ac.parameters(), lr=cfg.lr, eps=1e-5)

    def act(self, obs, deterministic=False):
        # Sampling written out with plain tensor ops: building a torch.distributions object per
        # env step costs more than the network itself on small batches.
        with torch.no_grad():
            out = self.ac.actor_head(self.ac.actor_trunk(self.preprocess(obs)))
            if self.continuous:
                if deterministic:
                    return out.cpu().numpy(), {}
                log_std = self.ac.log_std.expand_as(out)
                noise = torch.randn_like(out)
                action = out + noise * log_std.exp()
                log_prob = (-0.5 * noise.pow(2) - log_std - HALF_LOG_2PI).sum(-1)
            else:
                if deterministic:
                    return out.argmax(dim=-1).cpu().numpy(), {}
                logp_all = torch.log_softmax(out, dim=-1)
                action = torch.multinomial(logp_all.exp(), 1)
                log_prob = logp_all.gather(-1, action).squeeze(-1)
                action = action.squeeze(-1)
        return action.cpu().numpy(), {"log_prob": log_prob.cpu().numpy()}

    def make_buffer(self, parts_per_update: int = 1):
        return RolloutBuffer(parts_per_update)

    def collect_steps(self, n_envs: int) -> int:
        return self.cfg.n_steps

    def updates_due(self, buffer) -> int:
        return 1 if buffer.ready else 0

    @property
    def ent_coef(self) -> float:
        c = self.cfg
        if c.ent_coef_end is None:
            return c.ent_coef
        return c.ent_coef + (c.ent_coef_end - c.ent_coef) * self.progress

    def learn(self, batch: StepBatch) -> LearnOutput:  # noqa: C901 - the PPO update, top to bottom
        c = self.cfg
        T, N = batch.rewards.shape
        flat = lambda a: a.reshape(T * N, *a.shape[2:])  # noqa: E731
        obs_all = self.preprocess(np.concatenate([flat(batch.obs), flat(batch.next_obs)]))
        with torch.no_grad():
            v_all = self.ac.value(obs_all).cpu().numpy()  # V(s) and V(s') in one pass
        values = v_all[: T * N].reshape(T, N)
        next_values = v_all[T * N :].reshape(T, N)
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        adv = compute_gae(
            rewards, values, next_values, batch.terminated,
            batch.terminated | batch.truncated, c.gamma, c.gae_lambda,
        )  # fmt: skip
        returns = adv + values
        dev = self.device
        b_obs = obs_all[: T * N]
        b_act = torch.as_tensor(flat(batch.actions), device=dev)
        b_logp = torch.as_tensor(flat(batch.extras["log_prob"]), device=dev)
        b_adv = torch.as_tensor(flat(adv), device=dev)
        b_ret = torch.as_tensor(flat(returns), device=dev)
        b_val = torch.as_tensor(flat(values), device=dev)
        if c.norm_adv == "batch":
            b_adv = standardize(b_adv)
        lr = self._set_lr(self.optim)
        ent_coef = self.ent_coef
        size = T * N
        mb = min(c.batch_size, size)
        stats: dict[str, list[float]] = {
            k: [] for k in ("pg_loss", "v_loss", "entropy", "kl", "clipfrac")
        }
        stop = False
        for _epoch in range(c.n_epochs):
            perm = torch.randperm(size, device=dev)
            for start in range(0, size, mb):
                idx = perm[start : start + mb]
                dist = self.ac.dist(b_obs[idx])
                logp = dist.log_prob(b_act[idx])
                entropy = dist.entropy()
                if self.continuous:
                    logp, entropy = logp.sum(-1), entropy.sum(-1)
                log_ratio = logp - b_logp[idx]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    kl = float(((ratio - 1) - log_ratio).mean())  # unbiased KL estimator
                    clipfrac = float(((ratio - 1).abs() > c.clip_coef).float().mean())
                a = b_adv[idx]
                if c.norm_adv == "minibatch" and len(idx) > 1:
                    a = standardize(a)
                pg_loss = torch.max(
                    -a * ratio, -a * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)
                ).mean()
                v = self.ac.value(b_obs[idx])
                v_loss = value_loss(
                    v, b_val[idx], b_ret[idx], c.clip_coef if c.clip_vloss else None
                )
                loss = pg_loss - ent_coef * entropy.mean() + c.vf_coef * v_loss
                self._step(self.optim, loss, self.ac.parameters())
                for k, val in (
                    ("pg_loss", pg_loss),
                    ("v_loss", v_loss),
                    ("entropy", entropy.mean()),
                ):
                    stats[k].append(val.item())
                stats["kl"].append(kl)
                stats["clipfrac"].append(clipfrac)
                if (
                    c.target_kl is not None
                    and c.lr_schedule != "adaptive_kl"
                    and kl > 1.5 * c.target_kl
                ):
                    stop = True  # early stopping (OpenAI spinning-up style)
                    break
            if stop:
                break
        self.update_step += 1
        mean_kl = float(np.mean(stats["kl"]))
        if c.lr_schedule == "adaptive_kl":
            self.adapt_lr(mean_kl)
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        y, y_pred = returns.ravel(), values.ravel()
        var_y = float(np.var(y))
        metrics.update(
            lr=lr,
            ent_coef=ent_coef,
            explained_var=float("nan") if var_y == 0 else 1 - float(np.var(y - y_pred)) / var_y,
        )
        return LearnOutput(metrics)

    def adapt_lr(self, kl: float) -> None:
        """Adaptive-KL learning rate: lower it when the update moved too far, raise it when too
        little (factor 1.5, kept within [lr / 100, lr * 10])."""
        target = self.cfg.target_kl
        assert target is not None
        if kl > 2.0 * target:
            self.lr /= 1.5
        elif kl < 0.5 * target:
            self.lr *= 1.5
        self.lr = float(np.clip(self.lr, self.cfg.lr / 100, self.cfg.lr * 10))

    def modules(self):
        return {"ac": self.ac}

    def optimizers(self):
        return {"optim": self.optim}
