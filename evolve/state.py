"""The search's view of a run's tree: per-node and per-clade counts kept
incrementally in flat arrays.

A policy decides on every free worker slot, on trees of thousands of nodes,
so nothing here is recomputed from scratch: recording a result walks up the
ancestors once (clade counts are integer sums — never shared lists, the bug
in HGM's public code), and Thompson sampling draws for all candidates in one
vectorised call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum

import numpy as np

_INT = np.int64


class Kind(IntEnum):
    """What an expansion attempt became, as far as the search is concerned."""

    BUILDING = 0  # the expansion is under way
    VALID = 1  # a child that passed validation
    BROKEN = 2  # a child with a patch that failed validation (HGM evaluates such a child)
    FAILED = 3  # no child: the diagnosis failed, nothing changed, or the patch did not apply


NodeRow = tuple[int, int | None, "Kind | bool"]  # (id, parent, kind); a bool means VALID / FAILED


class TreeState:
    def __init__(self, tasks: Sequence[str], capacity: int = 1024) -> None:
        self.tasks = list(tasks)
        self.index: dict[int, int] = {}
        self.ids = np.zeros(capacity, dtype=_INT)
        self.parent = np.full(capacity, -1, dtype=_INT)
        self.own_resolved = np.zeros(capacity, dtype=_INT)
        self.own_failed = np.zeros(capacity, dtype=_INT)
        self.clade_resolved = np.zeros(capacity, dtype=_INT)
        self.clade_failed = np.zeros(capacity, dtype=_INT)
        self.children = np.zeros(capacity, dtype=_INT)  # every expansion attempt, valid or not
        self.valid_children = np.zeros(capacity, dtype=_INT)  # DGM's archive members among them
        self.kind = np.zeros(capacity, dtype=np.int8)
        self.valid = np.zeros(capacity, dtype=bool)  # kind == VALID
        self.in_flight = np.zeros(capacity, dtype=_INT)  # evaluations dispatched, not finished
        self.n_tried = np.zeros(capacity, dtype=_INT)
        self.tried: list[set[str]] = []
        self.size = 0
        self.finished_evaluations = 0
        self.dispatched_evaluations = 0  # started, finished or not (HGM's n_task_evals counts these)
        self.pending_expansions = 0  # expansions under way that are not nodes of the state yet
        self.kind_counts = np.zeros(len(Kind), dtype=_INT)

    # -- growth -------------------------------------------------------------
    def _grow(self) -> None:
        for name in ("ids", "parent", "own_resolved", "own_failed", "clade_resolved", "clade_failed",
                     "children", "valid_children", "kind", "valid", "in_flight", "n_tried"):
            old = getattr(self, name)
            new = np.zeros(len(old) * 2, dtype=old.dtype)
            if name == "parent":
                new[:] = -1
            new[: len(old)] = old
            setattr(self, name, new)

    def add_node(self, node_id: int, parent_id: int | None, *, valid: bool = True, kind: Kind | None = None) -> None:
        if node_id in self.index:
            return
        if self.size == len(self.ids):
            self._grow()
        i = self.size
        self.size += 1
        self.index[node_id] = i
        self.ids[i] = node_id
        self.tried.append(set())
        if parent_id is not None:
            p = self.index[parent_id]
            self.parent[i] = p
            self.children[p] += 1
        self._count_kind(i, kind if kind is not None else (Kind.VALID if valid else Kind.FAILED), +1)

    def finish_node(self, node_id: int, kind: Kind) -> None:
        """An expansion ended: what its node became."""
        i = self.index[node_id]
        self._count_kind(i, Kind(int(self.kind[i])), -1)
        self._count_kind(i, kind, +1)

    def _count_kind(self, i: int, kind: Kind, sign: int) -> None:
        self.kind_counts[kind] += sign
        if kind == Kind.VALID and self.parent[i] >= 0:
            self.valid_children[self.parent[i]] += sign
        if sign > 0:
            self.kind[i] = kind
            self.valid[i] = kind == Kind.VALID

    def members(self) -> int:
        """Nodes that are agents or may become one (HGM's tree: every attempt but those
        that left no child)."""
        return int(self.size - self.kind_counts[Kind.FAILED])

    def work_under_way(self) -> bool:
        """An expansion or an evaluation has been dispatched and has not come back."""
        return bool(self.pending_expansions or self.kind_counts[Kind.BUILDING]
                    or self.dispatched_evaluations > self.finished_evaluations)

    def pool_failures(self, node_id: int, failures: int) -> None:
        """Count `failures` failed evaluations against a node and its ancestors' clades without
        running them (an invalid child as evidence, `invalid_children: pool_as_failures`)."""
        i = self.index[node_id]
        self.own_failed[i] += failures
        while i >= 0:
            self.clade_failed[i] += failures
            i = self.parent[i]

    # -- evaluations --------------------------------------------------------
    def start(self, node_id: int, task_id: str) -> None:
        """An evaluation was dispatched: the task counts as tried from now on."""
        i = self.index[node_id]
        self._mark_tried(i, task_id)
        self.in_flight[i] += 1
        self.dispatched_evaluations += 1

    def record(self, node_id: int, task_id: str, resolved: bool) -> None:
        """A finished evaluation: own counts, then every ancestor's clade counts.
        `resolved` is evolve.grades.resolved(outcome): any other outcome,
        tampered included, is a failure."""
        i = self.index[node_id]
        if not self._mark_tried(i, task_id):  # it was dispatched by start()
            self.in_flight[i] = max(0, self.in_flight[i] - 1)
        else:
            self.dispatched_evaluations += 1
        own, clade = (self.own_resolved, self.clade_resolved) if resolved else (self.own_failed, self.clade_failed)
        own[i] += 1
        while i >= 0:
            clade[i] += 1
            i = self.parent[i]
        self.finished_evaluations += 1

    def _mark_tried(self, i: int, task_id: str) -> bool:
        if task_id in self.tried[i]:
            return False
        self.tried[i].add(task_id)
        self.n_tried[i] += 1
        return True

    # -- queries ------------------------------------------------------------
    def n(self) -> int:
        return self.size

    def own_total(self) -> np.ndarray:
        return self.own_resolved[: self.size] + self.own_failed[: self.size]

    def untried(self, node_id: int) -> list[str]:
        tried = self.tried[self.index[node_id]]
        return [t for t in self.tasks if t not in tried]

    def untried_counts(self) -> np.ndarray:
        return len(self.tasks) - self.n_tried[: self.size]

    def counts(self, node_id: int) -> tuple[int, int, int, int]:
        i = self.index[node_id]
        return (int(self.own_resolved[i]), int(self.own_failed[i]),
                int(self.clade_resolved[i]), int(self.clade_failed[i]))

    @classmethod
    def from_rows(
        cls,
        tasks: Sequence[str],
        nodes: Iterable[NodeRow],
        evaluations: Iterable[tuple[int, str, bool | None]],
        *,
        pooled_failures: int = 0,
    ) -> "TreeState":
        """Rebuild from the archive: nodes as (id, parent, kind) with parents
        first, evaluations as (node, task, resolved or None while running);
        `pooled_failures` per broken child, as the run's policy pools them."""
        state = cls(tasks)
        for node_id, parent_id, kind in nodes:
            if isinstance(kind, Kind):
                state.add_node(node_id, parent_id, kind=kind)
            else:
                state.add_node(node_id, parent_id, valid=bool(kind))
            if pooled_failures and kind == Kind.BROKEN:
                state.pool_failures(node_id, pooled_failures)
        for node_id, task_id, resolved in evaluations:
            if resolved is None:
                state.start(node_id, task_id)
            else:
                state.record(node_id, task_id, resolved)
        return state
