"""Which agent to ship: the best-belief rule.

HGM's public code has no rule for the final agent. Ranking by raw mean
rewards luck (1/1 beats 45/50); ranking by a lower posterior quantile of the
node's *own* results — Beta(1 + resolved, 1 + failed), 5 % quantile by
default — asks "how good is this agent at least, with 95 % belief", and
needs a node to have earned its place with enough evaluations. "Failed" is
every finished evaluation that is not resolved (evolve.grades): a refused,
`tampered` grade counts against the node like any other failure, and is
never dropped from its total.

The rule is written once, in `rank_beliefs`, over plain per-node sequences,
so that the search (on its `TreeState` arrays) and the API's "leader so far"
(on the archive's tree columns) cannot drift apart. `Beliefs` is the same
rule kept incrementally for the live view; a test holds it to `rank_beliefs`
on random trees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import nlargest

import numpy as np

from evolve.beta import beta_quantile
from evolve.state import TreeState


@dataclass(frozen=True)
class Belief:
    node_id: int
    resolved: int
    total: int
    lower: float  # the lower posterior quantile


def _lower_bound(quantile: float) -> Callable[[int, int], float]:
    """The lower quantile of Beta(1 + resolved, 1 + failed), computed once
    per distinct (resolved, total): a bisection per node is the slow part at
    10 000 nodes, and most nodes share a few counts."""
    known: dict[tuple[int, int], float] = {}

    def lower(resolved: int, total: int) -> float:
        if (resolved, total) not in known:
            known[(resolved, total)] = beta_quantile(quantile, 1 + resolved, 1 + total - resolved)
        return known[(resolved, total)]

    return lower


def rank_beliefs(
    ids: Sequence[int],
    valid: Sequence[bool],
    resolved: Sequence[int],
    total: Sequence[int],
    quantile: float = 0.05,
    min_evaluations: int = 5,
    *,
    top: int | None = None,
) -> list[Belief]:
    """Valid nodes with at least `min_evaluations` finished evaluations (or,
    if none has that many, every evaluated one), best belief first: higher
    lower quantile, then more evaluations, then earlier in the given order.
    The sequences are per node and aligned; `total` holds every finished
    evaluation, failures of any kind included. `top` keeps only the best
    few, without ranking (or making a `Belief` of) the rest: the API asks
    for the leader of a 10 000-node tree on every run page."""
    evaluated = [i for i in range(len(ids)) if valid[i] and total[i] > 0]
    pool = [i for i in evaluated if total[i] >= min_evaluations] or evaluated
    lower = _lower_bound(quantile)
    key = {i: (lower(int(resolved[i]), int(total[i])), int(total[i])) for i in pool}
    if top is None:  # both are stable: nodes with equal keys keep the given order
        best = sorted(pool, key=key.__getitem__, reverse=True)
    else:
        best = nlargest(top, pool, key=key.__getitem__)
    return [Belief(int(ids[i]), int(resolved[i]), int(total[i]), key[i][0]) for i in best]


def rank(state: TreeState, quantile: float = 0.05, min_evaluations: int = 5) -> list[Belief]:
    """`rank_beliefs` on the search's counts, in the state's order (the order
    nodes were added: creation order). The top few are the candidates for an
    optional confirmation on held-back tasks."""
    n = state.size
    return rank_beliefs(state.ids[:n].tolist(), state.valid[:n].tolist(), state.own_resolved[:n].tolist(),
                        state.own_total().tolist(), quantile, min_evaluations)


def best_belief(state: TreeState, quantile: float = 0.05, min_evaluations: int = 5) -> Belief | None:
    """The agent to ship; None when nothing was evaluated."""
    ranked = rank(state, quantile, min_evaluations)
    return ranked[0] if ranked else None


class Beliefs:
    """`best_belief` kept as the search goes: each node's lower quantile is computed
    when its own counts change, and the leader is one vectorised pass over those
    numbers, where `rank` makes a Belief of every node (the live view asks after
    every result, on trees of 10 000 nodes). Same rule, same ties as `rank_beliefs`."""

    def __init__(self, state: TreeState, quantile: float = 0.05, min_evaluations: int = 5) -> None:
        self.state, self.min_evaluations = state, min_evaluations
        self.lower_of = _lower_bound(quantile)
        self.lower = np.zeros(0)
        for node_id in state.ids[: state.size].tolist():
            self.update(int(node_id))

    def update(self, node_id: int) -> None:
        i = self.state.index[node_id]
        self._fit(i + 1)
        resolved, failed = int(self.state.own_resolved[i]), int(self.state.own_failed[i])
        self.lower[i] = self.lower_of(resolved, resolved + failed)

    def _fit(self, n: int) -> None:
        """Room for n nodes (a node without evaluations has lower quantile 0 and is not in the pool)."""
        if len(self.lower) < n:
            self.lower = np.concatenate([self.lower, np.zeros(max(len(self.lower), n - len(self.lower)))])

    def best(self) -> Belief | None:
        state, n = self.state, self.state.size
        self._fit(n)
        total = state.own_total()
        evaluated = state.valid[:n] & (total > 0)
        pool = evaluated & (total >= self.min_evaluations)
        pool = pool if pool.any() else evaluated
        if not pool.any():
            return None
        candidates = np.flatnonzero(pool)
        # highest lower quantile, then most evaluations, then the earliest (lexsort: last key first)
        order = np.lexsort((candidates, -total[candidates], -self.lower[candidates]))
        i = int(candidates[order[0]])
        return Belief(int(state.ids[i]), int(state.own_resolved[i]), int(total[i]), float(self.lower[i]))
