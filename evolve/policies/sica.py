"""SICA: build on the latest agent that is not clearly worse than the best.

Base = the most recently created evaluated node whose mean is at least the
best node's lower 95 % bound, mean − 1.96·sd/√n with the *sample* sd of its
per-task scores, as SICA computes it (MaximeRobeyns/self_improving_coding_agent,
`runner.py` `select_base_agent`, `base_agent/src/utils/archive_analysis.py`
`compute_statistics`: pandas' `std`, ddof 1); for 0/1 scores that sd is
√(p(1−p)·n/(n−1)). A best node with a single result has no sd (NaN in
SICA), no node clears the bound, and SICA falls back to the best: so does
this. The best is the first node with the highest mean (`idxmax`). Every
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
        n = int(total[best])
        if n < 2:
            return int(candidates[best])
        sample_sd = np.sqrt(mean[best] * (1 - mean[best]) * n / (n - 1))
        lower = mean[best] - self.z * sample_sd / np.sqrt(n)
        return int(candidates[mean >= lower].max())  # state indices grow with creation time
