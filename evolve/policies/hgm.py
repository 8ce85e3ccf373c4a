"""Huxley-Gödel Machine: expand by clade-metaproductivity, evaluate by own results.

Faithful to HGM (arXiv 2510.21614): Thompson sampling on Beta posteriors;
expansion when `evaluations ** alpha >= nodes - 1 + pending expansions`,
the parent drawn on its clade's pooled counts among nodes with at least one
evaluation of their own and a positive clade mean (a node whose own tries all
failed but whose descendants succeed is exactly what CMP exists to find); otherwise one more untried task on a node
drawn on its own counts; optional cool-down that multiplies every posterior's
parameters by (T / (T - n)) ** beta as the budget runs out. Two deliberate
choices: "nodes" counts every expansion attempt, valid or not, so a backbone
that writes only invalid children cannot starve evaluation; and the root is
first evaluated on `root_evaluations` tasks (HGM starts from a pre-evaluated
seed: an expansion needs a result to learn from), then expanded
`initial_expansions` times before the loop, as in HGM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.policies.base import Action, Budget, Evaluate, Expand, Policy, thompson_pick
from evolve.state import TreeState


@dataclass
class HGMPolicy(Policy):
    alpha: float = 0.6
    initial_expansions: int = 5
    root_evaluations: int = 3
    cooldown: bool = False
    cooldown_beta: float = 1.0
    name: str = "hgm"

    def _scale(self, budget: Budget) -> float:
        if not self.cooldown or budget.total <= budget.spent:
            return 1.0
        return (budget.total / (budget.total - budget.spent)) ** self.cooldown_beta

    def next_action(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        n = state.size
        if n == 0:
            return None
        root_tried, root_done = int(state.n_tried[0]), int(state.own_resolved[0] + state.own_failed[0])
        if root_tried < min(self.root_evaluations, len(state.tasks)):
            return self._evaluate(state, np.array([0]), rng, 1.0)  # an expansion needs a failure to learn from
        if state.children[0] < self.initial_expansions:
            if root_done == 0:
                return None  # the root's first results are still running
            return Expand(int(state.ids[0]))
        scale = self._scale(budget)
        attempts = n - 1 + state.pending_expansions
        if state.finished_evaluations**self.alpha >= attempts:
            own_total = state.own_total()
            parents = np.flatnonzero(state.valid[:n] & (own_total > 0) & (state.clade_resolved[:n] > 0))
            if len(parents):
                i = thompson_pick(parents, state.clade_resolved, state.clade_failed, rng, scale)
                return Expand(int(state.ids[i]))
        return self._evaluate(state, np.flatnonzero(state.valid[:n] & (state.n_tried[:n] < len(state.tasks))), rng, scale)

    def _evaluate(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator, scale: float) -> Action:
        """One random untried task on a candidate drawn on its own counts."""
        if not len(candidates):
            return None
        i = thompson_pick(candidates, state.own_resolved, state.own_failed, rng, scale)
        untried = [t for t in state.tasks if t not in state.tried[i]]
        return Evaluate(int(state.ids[i]), untried[int(rng.integers(len(untried)))])

    def evaluate_only(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        """The evaluation branch alone, for when the expansion budget is spent."""
        n = state.size
        candidates = np.flatnonzero(state.valid[:n] & (state.n_tried[:n] < len(state.tasks)))
        return self._evaluate(state, candidates, rng, self._scale(budget))
