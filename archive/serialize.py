"""Plain-dict views of archive rows, shared by the CLI's --json and the API,
so both print the same field names."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from archive.models import Evaluation, Node, Run


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands timestamps back without their zone."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "nodes": run.nodes_count,
        "evaluations": run.evaluations_count,
        "llm_calls": run.llm_calls_count,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "cost_usd": run.cost_usd,
        "best_node_id": run.best_node_id,
        "created_at": timestamp(run.created_at),
        "started_at": timestamp(run.started_at),
        "finished_at": timestamp(run.finished_at),
    }


def node_dict(node: Node, own_resolved: int, own_total: int, own_tampered: int = 0) -> dict[str, Any]:
    """`own_tampered`: finished evaluations whose grade was refused (among own_total, as failures)."""
    return {
        "id": node.id,
        "run_id": node.run_id,
        "parent_id": node.parent_id,
        "commit": node.commit,
        "status": node.status.value,
        "entry_task": node.entry_task,
        "proposal": node.proposal,
        "failure_reason": node.failure_reason,
        "own_resolved": own_resolved,
        "own_total": own_total,
        "own_tampered": own_tampered,
        "score": own_resolved / own_total if own_total else None,
        "created_at": timestamp(node.created_at),
        "updated_at": timestamp(node.updated_at),
    }


def evaluation_dict(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "id": evaluation.id,
        "node_id": evaluation.node_id,
        "task_id": evaluation.task_id,
        "attempt": evaluation.attempt,
        "outcome": evaluation.outcome.value if evaluation.outcome else None,
        "reason": evaluation.reason,
        "duration_s": evaluation.duration_s,
        "prompt_tokens": evaluation.prompt_tokens,
        "completion_tokens": evaluation.completion_tokens,
        "cost_usd": evaluation.cost_usd,
        "log_path": evaluation.log_path,
        "details": evaluation.details,
        "created_at": timestamp(evaluation.created_at),
        "finished_at": timestamp(evaluation.finished_at),
    }
