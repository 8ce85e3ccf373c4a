"""Two (or more) nodes of one run side by side: the unified diff between
the first two's code, and which tasks each solved.

The node page shows a node against its parent; people also need a node
against the best agent, or two siblings against each other. Every node's
code is a commit in the run's code store, so the diff between any two is one
`git diff` of their commits. The matrix has a row per task that any of the
nodes was evaluated on and a column per node; a cell lists that node's
evaluations of the task (a task can be run more than once), each linking to
its evaluation.
"""

from __future__ import annotations

from typing import Any

from api.services import MAX_DIFF_CHARS
from archive import Archive
from archive.errors import CladeError, NotFound
from archive.models import Node, Outcome

MAX_COMPARED = 8  # columns of the matrix


def _node_in_run(archive: Archive, run_id: int, node_id: int) -> Node:
    node = archive.repo.get_node(node_id)
    if node.run_id != run_id:
        raise NotFound(f"node {node_id} belongs to run {node.run_id}, not run {run_id}: compare nodes of one run "
                       f"(/api/runs/{node.run_id}/compare)")
    return node


def _diff(archive: Archive, old: Node, new: Node) -> tuple[str | None, bool, str | None]:
    """(diff, truncated, why there is none)."""
    missing = [n for n in (old, new) if n.commit is None]
    if missing:
        return None, False, f"node {missing[0].id} has no code yet (status {missing[0].status.value})"
    try:
        diff = archive.code_store(old.run_id).diff(old.commit, new.commit)
    except CladeError as exc:  # the run's code store is gone or damaged
        return None, False, str(exc)
    if len(diff) > MAX_DIFF_CHARS:
        return diff[:MAX_DIFF_CHARS], True, None
    return diff, False, None


def compare_nodes(archive: Archive, run_id: int, node_ids: list[int]) -> dict[str, Any]:
    """GET /api/runs/{id}/compare's body: `node_ids[0]` → `node_ids[1]` diff, the task × node matrix."""
    archive.repo.get_run(run_id)
    ids = list(dict.fromkeys(node_ids))[:MAX_COMPARED]  # each node once, in the order asked
    nodes = [_node_in_run(archive, run_id, node_id) for node_id in ids]
    if len(nodes) == 1:
        nodes.append(nodes[0])
    diff, truncated, note = _diff(archive, nodes[0], nodes[1])
    cells: dict[str, list[list[dict[str, Any]]]] = {}
    columns = []
    for k, node in enumerate(nodes[:len(ids)]):
        resolved = total = 0
        for e in archive.repo.node_evaluations(node.id):
            row = cells.setdefault(e.task_id, [[] for _ in ids])
            row[k].append({"evaluation_id": e.id, "outcome": e.outcome.value if e.outcome else None})
            if e.outcome is not None:
                total += 1
                resolved += e.outcome == Outcome.RESOLVED
        columns.append({"id": node.id, "parent_id": node.parent_id, "status": node.status.value,
                        "own_resolved": resolved, "own_total": total,
                        "score": round(resolved / total, 4) if total else None})
    rows = [{"task_id": task, "cells": cells[task]} for task in sorted(cells)]
    return {"run_id": run_id, "a": nodes[0].id, "b": nodes[1].id, "nodes": columns, "diff": diff,
            "diff_truncated": truncated, "diff_note": note, "tasks": rows}
