"""Huxley-Gödel Machine: expand by clade-metaproductivity, evaluate by own results.

Faithful to HGM (arXiv 2510.21614): Thompson sampling on Beta posteriors;
expansion when `evaluations ** alpha >= nodes - 1 + pending expansions`,
the parent drawn on its clade's pooled counts among nodes with at least one
evaluation of their own and a positive clade mean (a node whose own tries all
failed but whose descendants succeed is exactly what CMP exists to find); otherwise one more untried task on a node
drawn on its own counts; optional cool-down that multiplies every posterior's
parameters by (T / (T - n)) ** beta as the budget runs out. Two deliberate
choices: "nodes" counts every expansion attempt, valid or not, so a backbone
that writes only invalid children cannot starve evaluation; and the first
`initial_expansions` children of the root come before the loop, as in HGM.
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
        if state.children[0] < self.initial_expansions:
            return Expand(int(state.ids[0]))
        scale = self._scale(budget)
        attempts = n - 1 + state.pending_expansions
        if state.finished_evaluations**self.alpha >= attempts:
            own_total = state.own_total()
            parents = np.flatnonzero(state.valid[:n] & (own_total > 0) & (state.clade_s[:n] > 0))
            if len(parents):
                i = thompson_pick(parents, state.clade_s, state.clade_f, rng, scale)
                return Expand(int(state.ids[i]))
        candidates = np.flatnonzero(state.valid[:n] & (state.n_tried[:n] < len(state.tasks)))
        if not len(candidates):
            return None
        i = thompson_pick(candidates, state.own_s, state.own_f, rng, scale)
        untried = [t for t in state.tasks if t not in state.tried[i]]
        return Evaluate(int(state.ids[i]), untried[int(rng.integers(len(untried)))])
