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

import numpy as np

_INT = np.int64


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
        self.valid = np.zeros(capacity, dtype=bool)
        self.in_flight = np.zeros(capacity, dtype=_INT)  # evaluations dispatched, not finished
        self.n_tried = np.zeros(capacity, dtype=_INT)
        self.tried: list[set[str]] = []
        self.size = 0
        self.finished_evaluations = 0
        self.pending_expansions = 0

    # -- growth -------------------------------------------------------------
    def _grow(self) -> None:
        for name in ("ids", "parent", "own_resolved", "own_failed", "clade_resolved", "clade_failed",
                     "children", "valid", "in_flight", "n_tried"):
            old = getattr(self, name)
            new = np.zeros(len(old) * 2, dtype=old.dtype)
            if name == "parent":
                new[:] = -1
            new[: len(old)] = old
            setattr(self, name, new)

    def add_node(self, node_id: int, parent_id: int | None, *, valid: bool = True) -> None:
        if node_id in self.index:
            return
        if self.size == len(self.ids):
            self._grow()
        i = self.size
        self.size += 1
        self.index[node_id] = i
        self.ids[i] = node_id
        self.valid[i] = valid
        self.tried.append(set())
        if parent_id is not None:
            p = self.index[parent_id]
            self.parent[i] = p
            self.children[p] += 1

    def set_valid(self, node_id: int, valid: bool) -> None:
        self.valid[self.index[node_id]] = valid

    # -- evaluations --------------------------------------------------------
    def start(self, node_id: int, task_id: str) -> None:
        """An evaluation was dispatched: the task counts as tried from now on."""
        i = self.index[node_id]
        self._mark_tried(i, task_id)
        self.in_flight[i] += 1

    def record(self, node_id: int, task_id: str, resolved: bool) -> None:
        """A finished evaluation: own counts, then every ancestor's clade counts.
        `resolved` is evolve.grades.resolved(outcome): any other outcome,
        tampered included, is a failure."""
        i = self.index[node_id]
        if not self._mark_tried(i, task_id):  # it was dispatched by start()
            self.in_flight[i] = max(0, self.in_flight[i] - 1)
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
        nodes: Iterable[tuple[int, int | None, bool]],
        evaluations: Iterable[tuple[int, str, bool | None]],
    ) -> "TreeState":
        """Rebuild from the archive: nodes as (id, parent, valid) with parents
        first, evaluations as (node, task, resolved or None while running)."""
        state = cls(tasks)
        for node_id, parent_id, valid in nodes:
            state.add_node(node_id, parent_id, valid=valid)
        for node_id, task_id, resolved in evaluations:
            if resolved is None:
                state.start(node_id, task_id)
            else:
                state.record(node_id, task_id, resolved)
        return state
