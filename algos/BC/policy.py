"""Behavior cloning (Pomerleau 1991): supervised learning of the dataset's actions.

Discrete actions: cross-entropy of the logits against the dataset action. Box actions: the
squared error of the tanh-bounded mean against the action mapped into [-1, 1] (``loss: mse``),
or the negative log-likelihood of a Gaussian around that mean with a learned, state-independent
log std (``loss: gaussian``). Acting takes the argmax or the mean (no exploration: BC learns
from a dataset only, ``offline``).
"""

from __future__ import annotations

from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.base.offline import DatasetActor
from algos.BC.config import AlgoConfig
from framework.data.types import ActOutput


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "image", "discrete")
    action_kinds = ("discrete", "box")
    stochastic = False
    offline = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        actor = DatasetActor(self.obs_shape, cfg.actor_layers, action_space, self.name)
        self.actor = self.add_network("actor", actor, acting=True)
        self.add_optimizer("actor", self.actor.parameters(), cfg.lr)

    @property
    def exploration(self) -> str:
        return "greedy"

    def act(self, obs, mode="explore"):
        self.set_training(False)
        return ActOutput(self.actor.act(self.preprocess(obs), False, self.rng), {})

    def update(self, batch: TensorBatch):
        out = self.actor(batch.obs)
        targets = self.actor.targets(batch.actions)
        if self.actor.discrete or self.cfg.loss == "gaussian":
            loss = -self.actor.log_prob(out, targets).mean()
        else:
            loss = (out - targets).pow(2).sum(-1).mean()
        self.optimize("actor", loss)
        return {"bc_loss": loss.item()}, None
