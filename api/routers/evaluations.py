"""/api/evaluations/{id}: one task run by one node's agent, and its logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api import services
from api.deps import ArchiveDep
from api.logs import evaluation_log_dir, read_log
from api.routers.common import NOT_FOUND, EvaluationId, TextResponse
from api.schemas import EvaluationOut

router = APIRouter(prefix="/api/evaluations", tags=["evaluations"])


@router.get("/{evaluation_id}", response_model=EvaluationOut, responses=NOT_FOUND, summary="An evaluation")
def get_evaluation(evaluation_id: EvaluationId, archive: ArchiveDep) -> Any:
    return services.evaluation_out(archive, archive.repo.get_evaluation(evaluation_id))


@router.get(
    "/{evaluation_id}/log",
    response_class=TextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **NOT_FOUND},
    summary="A log file of the evaluation",
)
def get_evaluation_log(
    evaluation_id: EvaluationId,
    archive: ArchiveDep,
    name: str = Query("trajectory.jsonl", max_length=128,
                      description="a file listed in the evaluation's `logs`: trajectory.jsonl, patch.diff, "
                                  "test_output.txt, agent_output.txt, summary.json"),
) -> Any:
    """The file's text (its last 5 MiB if longer; then X-Clade-Truncated: true)."""
    evaluation = archive.repo.get_evaluation(evaluation_id)
    text, truncated = read_log(evaluation_log_dir(archive, evaluation), name)
    return TextResponse(text, headers={"X-Clade-Truncated": "true"} if truncated else {})
