"""Darwin Gödel Machine: parents by score and novelty, staged evaluation.

Parent probability ∝ sigmoid(λ·(score − 0.5)) / (1 + children), λ = 10,
over nodes whose evaluation has finished; every new valid node is evaluated
in stages (10 tasks, then 50 more if at least 40 % of the first were solved)
before it can be drawn as a parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evolve.policies.base import EvaluateThenExpand, own_mean
from evolve.state import TreeState


@dataclass
class DGMPolicy(EvaluateThenExpand):
    sharpness: float = 10.0
    stage_sizes: list[tuple[int, float]] = field(default_factory=lambda: [(10, 0.0), (50, 0.4)])
    name: str = "dgm"

    def stages(self) -> list[tuple[int, float]]:
        return self.stage_sizes

    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        score = own_mean(state, candidates)
        weight = 1.0 / (1.0 + np.exp(-self.sharpness * (score - 0.5))) / (1.0 + state.children[candidates])
        return int(rng.choice(candidates, p=weight / weight.sum()))
