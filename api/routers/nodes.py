"""/api/nodes/{id}: one agent version, its logs and its export."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Query, Response

from api import services
from api.deps import ArchiveDep
from api.logs import MAX_LOG_BYTES, node_log_dir, read_log
from api.routers.common import CONFLICT, NOT_FOUND, NodeId, TarGzResponse, TextResponse
from api.routers.runs import export_response
from api.schemas import NodeDetail

router = APIRouter(prefix="/api/nodes", tags=["nodes"])


class ExportFormat(str, Enum):
    TAR_GZ = "tar.gz"
    BUNDLE = "bundle"


@router.get("/{node_id}", response_model=NodeDetail, responses=NOT_FOUND, summary="A node")
def get_node(
    node_id: NodeId,
    archive: ArchiveDep,
    diff: bool = Query(True, description="include the diff against the parent"),
) -> Any:
    """Why the node exists (entry task, proposal), its diff against its
    parent, how its validation ended, and its evaluations."""
    return services.node_detail(archive, node_id, with_diff=diff)


@router.get(
    "/{node_id}/log",
    response_class=TextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **NOT_FOUND},
    summary="A log file of the node's expansion",
)
def get_node_log(
    node_id: NodeId,
    archive: ArchiveDep,
    name: str = Query("validation.log", max_length=128,
                      description="a file listed in the node's `logs` (validation.log, proposal.json, ...)"),
) -> Any:
    node = archive.repo.get_node(node_id)
    text, truncated = read_log(node_log_dir(archive, node.run_id, node_id), name)
    return TextResponse(text, headers={"X-Clade-Truncated": "true"} if truncated else {})


@router.get(
    "/{node_id}/export",
    response_class=TarGzResponse,
    responses={200: {"description": "tar.gz: the code plus clade-lineage.json; bundle: a git bundle of its history",
                     "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}},
                                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
               **NOT_FOUND, 409: CONFLICT[409] | {"description": "the node has no code yet (being built, or invalid "
                                                                "before its patch applied)"}},
    summary="Export a node's agent",
)
def export(node_id: NodeId, archive: ArchiveDep, format: ExportFormat = Query(ExportFormat.TAR_GZ)) -> Response:
    return export_response(archive, node_id, format.value)


__all__ = ["router", "MAX_LOG_BYTES"]
