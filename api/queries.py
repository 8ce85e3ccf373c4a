"""Read-side queries the API needs beyond the archive repository's: a whole
tree in columns (fast at 10 000 nodes), node counts by status, evaluation
counts by outcome, the leader so far, and a run's score and cost over time.

Only `resolved` is a success; every other finished outcome is a failure in
every total here, `tampered` (a grade the grader refused) included, and is
also counted apart so that people see a lineage that forges its grades.

Why not `ArchiveRepository.tree()`: it builds a `TreeNode` object per node
and decodes every status through the ORM's enum type; at 10 000 nodes and
100 000 evaluations that alone takes ~250 ms on this machine. Here the same
counts come from two Core queries (the evaluation counts through the
covering index on (node_id, outcome)) and a breadth-first pass over flat
lists, in ~40 ms. tests/api/test_tree.py checks both agree node for node.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import String, case, func, select, type_coerce

from archive.db import Database
from archive.errors import NotFound
from archive.models import Evaluation, LLMCall, Node, NodeStatus, Outcome, Run
from evolve.beta import beta_quantile


def _ratio(resolved: int, total: int) -> float | None:
    return round(resolved / total, 4) if total else None


@dataclass
class TreeColumns:
    """One list per field, in breadth-first order (every parent before its children)."""

    run_id: int
    best_node_id: int | None
    id: list[int]
    parent_id: list[int | None]
    status: list[str]
    depth: list[int]
    own_resolved: list[int]
    own_total: list[int]
    clade_resolved: list[int]
    clade_total: list[int]
    own_tampered: list[int]
    clade_tampered: list[int]

    @property
    def count(self) -> int:
        return len(self.id)

    def index_of(self, node_id: int) -> int:
        return self.id.index(node_id)

    def children_counts(self) -> list[int]:
        where = {node_id: i for i, node_id in enumerate(self.id)}
        counts = [0] * len(self.id)
        for parent in self.parent_id:
            if parent is not None and parent in where:
                counts[where[parent]] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "count": self.count,
            "best_node_id": self.best_node_id,
            "id": self.id,
            "parent_id": self.parent_id,
            "status": self.status,
            "depth": self.depth,
            "own_resolved": self.own_resolved,
            "own_total": self.own_total,
            "clade_resolved": self.clade_resolved,
            "clade_total": self.clade_total,
            "own_tampered": self.own_tampered,
            "clade_tampered": self.clade_tampered,
            "score": [_ratio(r, t) for r, t in zip(self.own_resolved, self.own_total)],
            "cmp": [_ratio(r, t) for r, t in zip(self.clade_resolved, self.clade_total)],
        }


def _outcome_counts() -> tuple[Any, Any, Any]:
    """SUM of resolved, COUNT of finished (the total every failure is in), SUM of tampered."""
    resolved = func.sum(case((Evaluation.outcome == Outcome.RESOLVED, 1), else_=0))
    tampered = func.sum(case((Evaluation.outcome == Outcome.TAMPERED, 1), else_=0))
    return resolved, func.count(Evaluation.outcome), tampered


def tree_columns(db: Database, run_id: int) -> TreeColumns:
    """Every node of the run with own and clade counts (finished evaluations only)."""
    with db.engine.connect() as conn:  # one transaction: one consistent snapshot
        run = conn.execute(select(Run.id, Run.best_node_id).where(Run.id == run_id)).first()
        if run is None:
            raise NotFound(f"no run with id {run_id} in the archive: list runs with GET /api/runs")
        rows = conn.execute(
            select(Node.id, Node.parent_id, type_coerce(Node.status, String))
            .where(Node.run_id == run_id)
            .order_by(Node.id)
        ).all()
        counts = conn.execute(
            select(Evaluation.node_id, *_outcome_counts())
            .where(Evaluation.node_id.in_(select(Node.id).where(Node.run_id == run_id)))
            .group_by(Evaluation.node_id)
        ).all()
    n = len(rows)
    where = {row[0]: i for i, row in enumerate(rows)}
    own_r, own_t, own_x = [0] * n, [0] * n, [0] * n
    for node_id, resolved, total, tampered in counts:
        i = where[node_id]
        own_r[i], own_t[i], own_x[i] = int(resolved or 0), int(total), int(tampered or 0)
    children: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    for i, row in enumerate(rows):
        parent = where.get(row[1]) if row[1] is not None else None
        (roots if parent is None else children[parent]).append(i)
    order: list[int] = []
    depth = [0] * n
    queue = deque(roots)
    while queue:
        i = queue.popleft()
        order.append(i)
        for c in children[i]:
            depth[c] = depth[i] + 1
            queue.append(c)
    clade_r, clade_t, clade_x = own_r[:], own_t[:], own_x[:]
    for i in reversed(order):
        for c in children[i]:
            clade_r[i] += clade_r[c]
            clade_t[i] += clade_t[c]
            clade_x[i] += clade_x[c]
    return TreeColumns(
        run_id=run_id,
        best_node_id=run[1],
        id=[rows[i][0] for i in order],
        parent_id=[rows[i][1] for i in order],
        status=[rows[i][2] for i in order],
        depth=[depth[i] for i in order],
        own_resolved=[own_r[i] for i in order],
        own_total=[own_t[i] for i in order],
        clade_resolved=[clade_r[i] for i in order],
        clade_total=[clade_t[i] for i in order],
        own_tampered=[own_x[i] for i in order],
        clade_tampered=[clade_x[i] for i in order],
    )


def status_counts(db: Database, run_id: int) -> dict[str, int]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(type_coerce(Node.status, String), func.count()).where(Node.run_id == run_id).group_by(Node.status)
        ).all()
    return {status: int(count) for status, count in rows}


def outcome_counts(db: Database, run_id: int) -> dict[str, int]:
    """Finished evaluations of the run by outcome, every outcome named (zeros included)."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(type_coerce(Evaluation.outcome, String), func.count())
            .where(Evaluation.run_id == run_id, Evaluation.outcome.is_not(None))
            .group_by(Evaluation.outcome)
        ).all()
    counts = {outcome.value: 0 for outcome in Outcome}
    counts.update({outcome: int(count) for outcome, count in rows if outcome in counts})
    return counts


def leader(tree: TreeColumns, quantile: float = 0.05, min_evaluations: int = 5) -> tuple[int, int, int] | None:
    """The final-agent rule (evolve.final) applied to the tree as it is now:
    the valid node with the highest lower posterior quantile of its own
    results, among those with at least `min_evaluations` (or, if none has
    that many, every evaluated one). Returns (node id, resolved, total);
    the total holds every failure, tampered ones included."""
    evaluated = [i for i in range(tree.count) if tree.status[i] == NodeStatus.VALID.value and tree.own_total[i] > 0]
    pool = [i for i in evaluated if tree.own_total[i] >= min_evaluations] or evaluated
    if not pool:
        return None
    lower: dict[tuple[int, int], float] = {}

    def key(i: int) -> tuple[float, int]:
        r, t = tree.own_resolved[i], tree.own_total[i]
        if (r, t) not in lower:
            lower[(r, t)] = beta_quantile(quantile, 1 + r, 1 + t - r)
        return lower[(r, t)], t

    best = max(pool, key=key)
    return tree.id[best], tree.own_resolved[best], tree.own_total[best]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def timeline(db: Database, run_id: int, started_at: datetime | None, *, min_evaluations: int = 1,
             max_points: int = 300) -> list[dict[str, Any]]:
    """Score and cost as the run went: one point per finished evaluation or
    model call (thinned to `max_points`). `best_score` is the highest own
    score among nodes with at least `min_evaluations` results at that time."""
    with db.engine.connect() as conn:
        evaluations = conn.execute(
            select(Evaluation.finished_at, Evaluation.node_id, type_coerce(Evaluation.outcome, String))
            .where(Evaluation.run_id == run_id, Evaluation.outcome.is_not(None))
            .order_by(Evaluation.finished_at, Evaluation.id)
        ).all()
        calls = conn.execute(
            select(LLMCall.created_at, LLMCall.prompt_tokens + LLMCall.completion_tokens, LLMCall.cost_usd)
            .where(LLMCall.run_id == run_id)
            .order_by(LLMCall.created_at, LLMCall.id)
        ).all()
    stamps = [_utc(e[0]) for e in evaluations if e[0] is not None] + [_utc(c[0]) for c in calls if c[0] is not None]
    origin = _utc(started_at) or (min(stamps) if stamps else None)
    if origin is None:
        return []
    merged: list[tuple[datetime, int, tuple]] = [(_utc(e[0]) or origin, 0, e) for e in evaluations]
    merged += [(_utc(c[0]) or origin, 1, c) for c in calls]
    merged.sort(key=lambda item: (item[0], item[1]))
    counts: dict[int, list[int]] = {}
    best: tuple[float, int, int] | None = None  # (score, total, node id)
    finished = resolved = tampered = tokens = 0
    cost = 0.0
    points: list[dict[str, Any]] = []

    def eligible(node_id: int) -> tuple[float, int, int] | None:
        r, t = counts[node_id]
        return (r / t, t, node_id) if t >= min_evaluations else None

    for stamp, kind, row in merged:
        if kind == 0:
            node_id, outcome = row[1], row[2]
            finished += 1
            win = outcome == Outcome.RESOLVED.value
            resolved += win
            tampered += outcome == Outcome.TAMPERED.value
            r_t = counts.setdefault(node_id, [0, 0])
            r_t[0] += win
            r_t[1] += 1
            mine = eligible(node_id)
            if best is not None and best[2] == node_id and (mine is None or mine < best):
                best = max(filter(None, (eligible(n) for n in counts)), default=None)
            elif mine is not None and (best is None or mine > best):
                best = mine
        else:
            tokens += int(row[1] or 0)
            cost += float(row[2] or 0.0)
        points.append({
            "t": round(max((stamp - origin).total_seconds(), 0.0), 3),
            "evaluations": finished,
            "resolved": resolved,
            "tampered": tampered,
            "best_node_id": best[2] if best else None,
            "best_score": round(best[0], 4) if best else None,
            "tokens": tokens,
            "cost_usd": round(cost, 6),
        })
    if len(points) > max_points:
        step = len(points) / max_points
        points = [points[int(k * step)] for k in range(max_points - 1)] + [points[-1]]
    return points
