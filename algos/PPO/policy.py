"""PPO (Schulman et al. 2017): clipped surrogate objective on the on-policy base (rollouts, GAE,
minibatch epochs); discrete actions (categorical) and Box actions (Gaussian with a
state-independent log std).

Follows the "37 implementation details" (Huang et al. 2022): advantage normalization, value
clipping, global gradient clipping, orthogonal init and schedules are config switches.
"""

from __future__ import annotations

import numpy as np
import torch

from algos.base.on_policy import Minibatch, OnPolicyPolicy, standardize  # noqa: F401 (re-export)
from algos.PPO.config import AlgoConfig


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


class Policy(OnPolicyPolicy):
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.build_actor_critic(cfg.actor_layers, cfg.critic_layers, cfg.shared_trunk)

    def loss(self, mb: Minibatch):
        c = self.cfg
        logp, entropy, v = self.evaluate(mb.obs, mb.actions)
        log_ratio = logp - mb.old_log_prob
        ratio = log_ratio.exp()
        with torch.no_grad():
            kl = float(((ratio - 1) - log_ratio).mean())  # unbiased KL estimator (Schulman)
            clipfrac = float(((ratio - 1).abs() > c.clip_coef).float().mean())
        a = mb.advantages
        pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean()
        v_loss = value_loss(v, mb.old_values, mb.returns, c.clip_coef if c.clip_vloss else None)
        entropy = entropy.mean()
        loss = pg_loss - self.ent_coef * entropy + c.vf_coef * v_loss
        if c.target_kl is not None and c.lr_schedule != "adaptive_kl" and kl > 1.5 * c.target_kl:
            self.stop_epochs = True  # early stopping (OpenAI spinning-up style)
        stats = {
            "pg_loss": pg_loss.item(),
            "v_loss": v_loss.item(),
            "entropy": entropy.item(),
            "kl": kl,
            "clipfrac": clipfrac,
        }
        return loss, stats

    def after_update(self, metrics: dict[str, float]) -> None:
        if self.cfg.lr_schedule == "adaptive_kl":
            self.adapt_lr(metrics["kl"])

    def adapt_lr(self, kl: float) -> None:
        """Adaptive-KL learning rate: lower it when the update moved too far, raise it when too
        little (factor 1.5, kept within [lr / 100, lr * 10])."""
        target = self.cfg.target_kl
        assert target is not None
        if kl > 2.0 * target:
            self.lr_scale /= 1.5
        elif kl < 0.5 * target:
            self.lr_scale *= 1.5
        self.lr_scale = float(np.clip(self.lr_scale, 0.01, 10.0))
