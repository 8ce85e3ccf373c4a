"""SICA: build on the latest agent that is not clearly worse than the best.

Base = the most recently created evaluated node whose mean is at least the
best node's lower confidence bound (normal approximation, z = 1.96). Every
new node is evaluated on the same first `eval_tasks` tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.policies.base import EvaluateThenExpand, own_mean
from evolve.state import TreeState


@dataclass
class SICAPolicy(EvaluateThenExpand):
    eval_tasks: int = 10
    z: float = 1.96
    name: str = "sica"

    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        total = state.own_total()[candidates]
        mean = own_mean(state, candidates)
        best = int(np.argmax(mean))
        lower = mean[best] - self.z * np.sqrt(mean[best] * (1 - mean[best]) / total[best])
        return int(candidates[mean >= lower].max())  # state indices grow with creation time
