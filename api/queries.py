"""Read-side queries the API needs beyond the archive repository's: node
counts by status, evaluation counts by outcome, the leader so far, and a
run's score and cost over time. The whole tree in columns is the archive's
(`archive.tree.tree_columns`, which the API calls with `RUN_HINT`).

Only `resolved` is a success; every other finished outcome is a failure in
every total here, `tampered` (a grade the grader refused) included, and is
also counted apart so that people see a lineage that forges its grades.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import String, func, select, type_coerce

from archive.db import Database
from archive.models import Evaluation, LLMCall, Node, NodeStatus, Outcome
from archive.tree import TreeColumns
from evolve.final import rank_beliefs

# How to find a run's id through the API, for an unknown run's 404.
RUN_HINT = "list runs with GET /api/runs"


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


def node_usage(db: Database, run_id: int) -> dict[int, tuple[int, float]]:
    """Model use per node of the run: (tokens, cost in USD) of every call made
    for it (its expansion's and its evaluations'), as the node page counts it."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(LLMCall.node_id, func.sum(LLMCall.prompt_tokens + LLMCall.completion_tokens),
                   func.sum(LLMCall.cost_usd))
            .where(LLMCall.run_id == run_id, LLMCall.node_id.is_not(None))
            .group_by(LLMCall.node_id)
        ).all()
    return {int(node_id): (int(tokens or 0), round(float(cost or 0.0), 6)) for node_id, tokens, cost in rows}


def leader(tree: TreeColumns, quantile: float = 0.05, min_evaluations: int = 5) -> tuple[int, int, int] | None:
    """The final-agent rule (evolve.final.rank_beliefs) applied to the tree
    as it is now; returns (node id, resolved, total), the total holding every
    failure, tampered ones included. Nodes go in by id, the order the
    engine's state holds them, so that a tie names the node the engine would
    ship."""
    order = sorted(range(tree.count), key=tree.id.__getitem__)
    valid = NodeStatus.VALID.value
    ranked = rank_beliefs([tree.id[i] for i in order], [tree.status[i] == valid for i in order],
                          [tree.own_resolved[i] for i in order], [tree.own_total[i] for i in order],
                          quantile, min_evaluations, top=1)
    return (ranked[0].node_id, ranked[0].resolved, ranked[0].total) if ranked else None


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
