"""TD3+BC (Fujimoto & Gu 2021): TD3 learning from a dataset, with a behavior-cloning term on the
actor, -lambda * Q(s, pi(s)) + (pi(s) - a)^2, lambda = bc_alpha / mean|Q(s, pi(s))| (detached),
and observations normalized by the dataset's statistics (``obs_norm``).

TD3's learner unchanged; the BC term is an extra actor loss. TD3's actor loss is -mean Q, so the
term added is the paper's loss divided by lambda, (pi(s) - a)^2 / lambda: the same direction,
and Adam's steps do not depend on the loss scale. Squared errors are in units of the action
half-range (the paper's actions are in [-1, 1]).
"""

from __future__ import annotations

from algos.TD3.policy import Policy as TD3Policy
from algos.TD3BC.config import AlgoConfig


class Policy(TD3Policy):
    obs_kinds = ("vector",)  # normalized by the dataset's statistics
    offline = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.add_loss_term("actor", self.bc_term)

    def bc_term(self, batch, actions, q, **_):
        scaler = self.scaler
        mse = (scaler.unscale(actions) - scaler.unscale(batch.actions)).pow(2).mean()
        inverse_lambda = q.detach().abs().mean() / self.cfg.bc_alpha
        return mse * inverse_lambda, {"bc_mse": mse.item()}
