"""What the routes and the web pages show, built from the archive.

Plain dicts shaped like `api.schemas` (the JSON routes return them, the
templates render them), built on `archive.serialize` so that field names
match the CLI's --json.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Protocol

from api import queries
from api.logs import evaluation_log_dir, list_logs, node_log_dir
from archive import Archive
from archive.errors import CladeError
from archive.models import Evaluation, Outcome, Run
from archive.serialize import evaluation_dict, node_dict, run_dict
from archive.tree import tree_columns

MAX_DIFF_CHARS = 2_000_000


class Driving(Protocol):
    """Who tells whether a process drives a run: the server's RunSupervisor, or the CLI's lease reader
    (a Protocol so that the CLI can build the API's bodies without importing the engine)."""

    def driving(self, run_id: int) -> bool: ...


def _config_section(run: Run, name: str) -> dict[str, Any]:
    section = (run.config or {}).get(name)
    return section if isinstance(section, dict) else {}


def run_summary(run: Run, supervisor: Driving) -> dict[str, Any]:
    data = run_dict(run)
    data["policy"] = _config_section(run, "policy").get("name")
    data["engine_alive"] = supervisor.driving(run.id)
    return data


def _score(node_id: int, resolved: int, total: int) -> dict[str, Any]:
    return {"id": node_id, "own_resolved": resolved, "own_total": total,
            "score": round(resolved / total, 4) if total else None}


def run_detail(archive: Archive, supervisor: Driving, run_id: int) -> dict[str, Any]:
    repo = archive.repo
    run = repo.get_run(run_id)
    data = run_summary(run, supervisor)
    budget = _config_section(run, "budget")
    started = run.started_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    end = run.finished_at or datetime.now(timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=timezone.utc)
    data["budget"] = {
        "task_evaluations": budget.get("task_evaluations"),
        "evaluations_spent": run.evaluations_count,
        "expansions": budget.get("expansions"),
        "expansions_spent": max(run.nodes_count - 1, 0),
        "tokens": budget.get("tokens"),
        "tokens_spent": run.prompt_tokens + run.completion_tokens,
        "usd": budget.get("usd"),
        "usd_spent": run.cost_usd,
        "wall_seconds": budget.get("wall_seconds"),
        "elapsed_seconds": round((end - started).total_seconds(), 1) if started else None,
    }
    nodes, evaluations = repo.pending_work(run_id)
    data["under_way"] = {
        "expansions": [n.id for n in nodes],
        "evaluations": [e.id for e in evaluations],
        "evaluating_nodes": sorted({e.node_id for e in evaluations}),
    }
    data["search"] = repo.search_conventions(run_id)
    data["nodes_by_status"] = queries.status_counts(archive.db, run_id)
    data["evaluations_by_outcome"] = queries.outcome_counts(archive.db, run_id)
    tree = tree_columns(archive.db, run_id, hint=queries.RUN_HINT)
    data["best_node"] = None
    if run.best_node_id is not None and run.best_node_id in tree.id:
        i = tree.index_of(run.best_node_id)
        data["best_node"] = _score(run.best_node_id, tree.own_resolved[i], tree.own_total[i])
    final = _config_section(run, "final")
    try:
        quantile = float(final.get("quantile", 0.05))
        min_evaluations = int(final.get("min_evaluations", 5))
    except (TypeError, ValueError):
        quantile, min_evaluations = 0.05, 5
    lead = queries.leader(tree, quantile, min_evaluations)
    data["leader"] = _score(*lead) if lead else None
    data["last_event_seq"] = run.last_event_seq
    data["config"] = run.config or {}
    return data


def public_evaluation(evaluation: Evaluation) -> dict[str, Any]:
    """An evaluation as the API shows it: no server paths. `log_path` is left
    out (the logs are listed by name). The evaluator names a node's agent
    `node:<id>`; archives written before it did hold the temporary folder the
    agent ran from (`details.agent`: /tmp/clade-…), shown by its node too."""
    data = evaluation_dict(evaluation)
    data.pop("log_path", None)
    data["run_id"] = evaluation.run_id
    details = data.get("details")
    if isinstance(details, dict) and isinstance(details.get("agent"), str) and details["agent"].startswith(("/", "~")):
        data["details"] = {**details, "agent": f"node:{evaluation.node_id}"}
    return data


def evaluation_out(archive: Archive, evaluation: Evaluation) -> dict[str, Any]:
    data = public_evaluation(evaluation)
    data["logs"] = [{"name": n, "bytes": b} for n, b in list_logs(evaluation_log_dir(archive, evaluation)).items()]
    return data


def _validation(status: str, failure_reason: str | None) -> dict[str, Any]:
    if status in ("proposed", "building"):
        return {"passed": None, "stage": None, "reason": None}
    if status == "valid":
        return {"passed": True, "stage": "passed", "reason": None}
    stage, sep, reason = (failure_reason or "").partition(": ")
    return {"passed": False, "stage": stage if sep else None, "reason": reason if sep else (failure_reason or None)}


def node_detail(archive: Archive, node_id: int, *, with_diff: bool = True) -> dict[str, Any]:
    repo = archive.repo
    node = repo.get_node(node_id)
    tree = tree_columns(archive.db, node.run_id, hint=queries.RUN_HINT)
    i = tree.index_of(node_id)
    data = node_dict(node, tree.own_resolved[i], tree.own_total[i], tree.own_tampered[i])
    data["clade_resolved"], data["clade_total"] = tree.clade_resolved[i], tree.clade_total[i]
    data["clade_tampered"] = tree.clade_tampered[i]
    data["cmp"] = round(tree.clade_resolved[i] / tree.clade_total[i], 4) if tree.clade_total[i] else None
    data["children"] = [tree.id[k] for k in range(tree.count) if tree.parent_id[k] == node_id]
    data["ancestors"] = [n.id for n in repo.lineage(node_id)[:-1]]
    diff, truncated = None, False
    if with_diff and node.commit is not None:
        try:
            diff = archive.node_diff(node_id)
        except CladeError:  # no code yet, or the run's code store is gone
            diff = None
        if diff is not None and len(diff) > MAX_DIFF_CHARS:
            diff, truncated = diff[:MAX_DIFF_CHARS], True
    data["diff"], data["diff_truncated"] = diff, truncated
    data["validation"] = _validation(data["status"], node.failure_reason)
    data["logs"] = [{"name": n, "bytes": b} for n, b in list_logs(node_log_dir(archive, node.run_id, node_id)).items()]
    data["evaluations"] = [evaluation_out(archive, e) for e in repo.node_evaluations(node_id)]
    calls = repo.llm_calls(node_id=node_id)
    data["usage"] = {
        "calls": len(calls),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "cost_usd": round(sum(c.cost_usd for c in calls), 6),
    }
    return data


def tree_json(archive: Archive, run_id: int) -> bytes:
    """GET /api/runs/{id}/tree's body, serialised without a framework in between."""
    tree = tree_columns(archive.db, run_id, hint=queries.RUN_HINT)
    return json.dumps(tree.as_dict(), separators=(",", ":")).encode()


STATUS_ORDER = {"valid": 0, "building": 1, "proposed": 2, "invalid": 3}


def node_rows(archive: Archive, run_id: int) -> list[dict[str, Any]]:
    """Every node of the run as a TreeNodeOut-shaped dict, breadth-first."""
    tree = tree_columns(archive.db, run_id, hint=queries.RUN_HINT)
    columns = tree.as_dict()
    children = tree.children_counts()
    usage = queries.node_usage(archive.db, run_id)
    keys = ("id", "parent_id", "status", "depth", "own_resolved", "own_total", "clade_resolved", "clade_total",
            "own_tampered", "clade_tampered", "score", "cmp")
    rows = []
    for i in range(tree.count):
        row = {key: columns[key][i] for key in keys}
        tokens, cost = usage.get(row["id"], (0, 0.0))
        rows.append({**row, "children": children[i], "tokens": tokens, "cost_usd": cost})
    return rows


def _sort_key(sort: str) -> Any:
    if sort == "evaluations":
        return lambda row: row["own_total"]
    if sort == "cost":
        return lambda row: row["cost_usd"]
    if sort == "status":
        return lambda row: STATUS_ORDER.get(row["status"], 9)
    return lambda row: row[sort]


def node_page(archive: Archive, run_id: int, offset: int, limit: int, sort: str = "tree",
              order: str = "asc") -> dict[str, Any]:
    """A page of the run's nodes, in tree (breadth-first) order or sorted by
    one column; a node without a value there (no score yet) comes last either
    way, and ties keep the tree order, so pages never overlap."""
    rows = node_rows(archive, run_id)
    if sort != "tree":
        key = _sort_key(sort)
        known = [row for row in rows if key(row) is not None]
        unknown = [row for row in rows if key(row) is None]
        rows = sorted(known, key=key, reverse=order == "desc") + unknown
    return {"run_id": run_id, "total": len(rows), "offset": offset, "limit": limit, "sort": sort, "order": order,
            "nodes": rows[offset:offset + limit]}


def evaluation_page(archive: Archive, run_id: int, offset: int, limit: int, outcome: str | None) -> dict[str, Any]:
    total, rows = archive.repo.evaluations_page(run_id, offset, limit, Outcome(outcome) if outcome else None)
    evaluations = []
    for row in rows:
        evaluations.append(public_evaluation(row))
    return {"run_id": run_id, "total": total, "offset": offset, "limit": limit, "evaluations": evaluations}


def event_out(event: Any) -> dict[str, Any]:
    from archive.serialize import timestamp

    return {"seq": event.seq, "kind": event.kind, "payload": event.payload or {},
            "created_at": timestamp(event.created_at)}


def run_timeline(archive: Archive, run_id: int) -> dict[str, Any]:
    from archive.serialize import timestamp

    run = archive.repo.get_run(run_id)
    try:
        min_evaluations = int(_config_section(run, "final").get("min_evaluations", 1))
    except (TypeError, ValueError):
        min_evaluations = 1
    points = queries.timeline(archive.db, run_id, run.started_at, min_evaluations=max(min_evaluations, 1))
    return {"run_id": run_id, "started_at": timestamp(run.started_at), "points": points}
