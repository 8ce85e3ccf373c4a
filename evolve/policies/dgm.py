"""Darwin Gödel Machine: parents by score and novelty, staged evaluation, in generations.

The defaults are DGM's published code (jennyzzt/dgm, `DGM_outer.py`):
parent probability ∝ sigmoid(λ·(score − 0.5)) / (1 + children), λ = 10
(`choose_selfimproves`, `score_child_prop`), where *children* are the
parent's children in the archive — those that compiled and were evaluated
(`filter_compiled`, `update_archive`), not every attempt
(`children_count: archive_members`); each generation draws
`generation_size` parents at once (`selfimprove_size`, 2) and the next
starts when all of them are built and evaluated; every new valid node is
evaluated in stages (10 tasks, then 50 more if at least 40 % of the first
were solved) before it can be drawn as a parent. DGM validates nothing
before evaluating: a child with a patch that fails Clade's validation
(BROKEN) is evaluated on the first stage too (`invalid_children: evaluate`,
`self_improve_step.py`), and, solving nothing, never joins the archive. The root's evaluation is
the given starting point: outside the budget. DGM's third stage (a full
evaluation for a child that reaches the archive's second best) is computed
in its code but never used (`get_full_eval_threshold`), so it is not here.

Clade's variants: `invalid_children: skip` (a broken child costs no
evaluation), `children_count: attempts` (every expansion attempt counts), `generation_size: null` (no generations: a parent is drawn whenever
a worker is free, among nodes with no evaluation running),
`root_in_budget: true`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evolve.policies.base import EvaluateThenExpand, check_choice, own_mean
from evolve.state import Kind, TreeState

CHILDREN_COUNT = ("archive_members", "attempts")
INVALID_CHILDREN = ("evaluate", "skip")


@dataclass
class DGMPolicy(EvaluateThenExpand):
    sharpness: float = 10.0
    stage_sizes: list[tuple[int, float]] = field(default_factory=lambda: [(10, 0.0), (50, 0.4)])
    children_count: str = "archive_members"
    invalid_children: str = "evaluate"
    generation_size: int | None = 2
    root_in_budget: bool = False
    name: str = "dgm"

    def __post_init__(self) -> None:
        check_choice("children_count", self.children_count, CHILDREN_COUNT)
        check_choice("invalid_children", self.invalid_children, INVALID_CHILDREN)
        if self.generation_size is not None and self.generation_size < 1:
            raise ValueError(f"generation_size must be at least 1 (or null), not {self.generation_size}")

    @property
    def charges_root(self) -> bool:
        return self.root_in_budget

    def conventions(self) -> dict[str, object]:
        return {"children_count": self.children_count, "invalid_children": self.invalid_children,
                "generation_size": self.generation_size or "none (a parent whenever a worker is free)",
                "root_in_budget": self.root_in_budget}

    def stages(self) -> list[tuple[int, float]]:
        return self.stage_sizes

    def evaluated(self, state: TreeState) -> np.ndarray:
        kinds = state.kind[: state.size]
        if self.invalid_children == "evaluate":
            return (kinds == Kind.VALID) | (kinds == Kind.BROKEN)
        return kinds == Kind.VALID

    def may_expand(self, state: TreeState) -> bool:
        """A generation, once dispatched, is built and evaluated before the next one starts."""
        if self.generation_size is None or (state.size - 1) % self.generation_size:
            return True
        return not (state.kind_counts[Kind.BUILDING] or state.in_flight[: state.size].any())

    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        score = own_mean(state, candidates)
        children = state.valid_children if self.children_count == "archive_members" else state.children
        weight = 1.0 / (1.0 + np.exp(-self.sharpness * (score - 0.5))) / (1.0 + children[candidates])
        return int(rng.choice(candidates, p=weight / weight.sum()))
