"""The run's counters and its clock.

The clock's unit is env steps for a run that learns from environments and update steps for one
that learns from a dataset (no env is stepped for learning). Evaluation cadence
(``online_eval_fre``), the budget and the schedules all read time from the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ClockUnit = Literal["env_steps", "update_steps"]


@dataclass
class Counters:
    """Run progress; saved in every checkpoint so a resumed run continues them."""

    env_steps: int = 0
    episodes: int = 0
    update_steps: int = 0
    best_eval: float | None = None
    threshold_env_steps: int | None = None
    eval_means: list[float] = field(default_factory=list)  # every online evaluation's mean

    def threshold_met(self, threshold: float | None, in_a_row: int) -> bool:
        """Whether the last ``in_a_row`` evaluations all reached ``threshold``."""
        recent = self.eval_means[-in_a_row:]
        return (
            threshold is not None
            and len(recent) == in_a_row
            and all(m >= threshold for m in recent)
        )


@dataclass(frozen=True)
class Clock:
    unit: ClockUnit
    budget: int | None  # None: no limit on this clock
    eval_every: int

    def now(self, counters: Counters) -> int:
        return counters.env_steps if self.unit == "env_steps" else counters.update_steps

    def next_eval(self, counters: Counters) -> int:
        """The first multiple of ``eval_every`` strictly after now."""
        return (self.now(counters) // self.eval_every + 1) * self.eval_every

    def spent(self, counters: Counters) -> bool:
        return self.budget is not None and self.now(counters) >= self.budget
