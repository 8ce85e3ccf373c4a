"""Which agent to ship: the best-belief rule.

HGM's public code has no rule for the final agent. Ranking by raw mean
rewards luck (1/1 beats 45/50); ranking by a lower posterior quantile of the
node's *own* results — Beta(1 + resolved, 1 + failed), 5 % quantile by
default — asks "how good is this agent at least, with 95 % belief", and
needs a node to have earned its place with enough evaluations. "Failed" is
every finished evaluation that is not resolved (evolve.grades): a refused,
`tampered` grade counts against the node like any other failure, and is
never dropped from its total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.beta import beta_quantile
from evolve.state import TreeState


@dataclass(frozen=True)
class Belief:
    node_id: int
    resolved: int
    total: int
    lower: float  # the lower posterior quantile


def rank(state: TreeState, quantile: float = 0.05, min_evaluations: int = 5) -> list[Belief]:
    """Valid nodes with at least `min_evaluations` finished evaluations (or,
    if none has that many, every evaluated one), best belief first. The top
    few are the candidates for an optional confirmation on held-back tasks."""
    n = state.size
    total = state.own_total()
    evaluated = state.valid[:n] & (total > 0)
    pool = np.flatnonzero(evaluated & (total >= min_evaluations))
    if not len(pool):
        pool = np.flatnonzero(evaluated)
    beliefs = [
        Belief(int(state.ids[i]), int(state.own_s[i]), int(total[i]),
               beta_quantile(quantile, 1 + int(state.own_s[i]), 1 + int(state.own_f[i])))
        for i in pool
    ]
    return sorted(beliefs, key=lambda b: (b.lower, b.total), reverse=True)


def best_belief(state: TreeState, quantile: float = 0.05, min_evaluations: int = 5) -> Belief | None:
    """The agent to ship; None when nothing was evaluated."""
    ranked = rank(state, quantile, min_evaluations)
    return ranked[0] if ranked else None
