"""/api/runs: start, list, inspect, pause, resume and cancel runs; the tree."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field
from starlette.background import BackgroundTask

from api import services
from api.compare import MAX_COMPARED, compare_nodes
from api.deps import ArchiveDep, SettingsDep, SupervisorDep
from api.posted import PostedConfigError, PostedRunConfig, resolve_posted
from api.routers.common import (CONFLICT, MAX_ID, NOT_FOUND, TOO_LARGE, RunId, TarGzResponse, unprocessable,
                                unprocessable_fields)
from api.schemas import CompareOut, EvaluationPage, NodePage, NodeSort, OutcomeName, RunAction, RunDetail, RunPage, Timeline, TreeOut
from api.supervisor import Conflict
from archive.errors import CladeError
from archive.export import export_node
from archive.models import RunStatus
from evolve.runs import create_run, request_stop

router = APIRouter(prefix="/api/runs", tags=["runs"])
NodeIdItem = Annotated[int, Field(ge=1, le=MAX_ID)]


@router.post(
    "",
    status_code=201,
    response_model=RunDetail,
    summary="Start a run",
    responses={422: {"description": "the configuration does not validate, or names what this server does not "
                                    "offer (a backend, a path); each error names its field"},
               **TOO_LARGE},
)
def start_run(
    config: PostedRunConfig,
    archive: ArchiveDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    start: bool = Query(True, description="start the engine now (false: only record the run; resume starts it)"),
) -> Any:
    """Record a run with the seed agent as its root and start its engine in
    a background process. The body is the run configuration (the same
    fields as a YAML run file); unknown fields are errors. Model backends
    are named, from those this server offers (`models.backends: [NAME]`,
    or left out); their keys, URLs and arguments are the server's."""
    try:
        resolved = resolve_posted(config, settings.backends, settings.config_roots())
    except PostedConfigError as exc:
        return unprocessable_fields(exc.errors)
    try:
        run = create_run(archive, resolved)
    except CladeError as exc:  # the benchmark or its tasks cannot be loaded
        return unprocessable(("benchmark",), str(exc))
    if start:
        supervisor.start(run.id)
    return services.run_detail(archive, supervisor, run.id)


@router.get("", response_model=RunPage, summary="List runs, a page at a time")
def list_runs(
    archive: ArchiveDep,
    supervisor: SupervisorDep,
    offset: int = Query(0, ge=0, le=MAX_ID, description="index of the first run (oldest first)"),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    runs = archive.repo.list_runs()
    return {"total": len(runs), "offset": offset, "limit": limit,
            "runs": [services.run_summary(run, supervisor) for run in runs[offset:offset + limit]]}


@router.get("/{run_id}", response_model=RunDetail, responses=NOT_FOUND, summary="A run's status")
def get_run(run_id: RunId, archive: ArchiveDep, supervisor: SupervisorDep) -> Any:
    """Status, budget spent, counters, the work under way, the best node
    (when finished) and the leader so far."""
    return services.run_detail(archive, supervisor, run_id)


def _action(archive, supervisor, run_id: int, message: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"run": services.run_summary(archive.repo.get_run(run_id), supervisor), "message": message}


@router.post("/{run_id}/pause", response_model=RunAction, responses={**NOT_FOUND, **CONFLICT}, summary="Pause a run")
def pause_run(run_id: RunId, archive: ArchiveDep, supervisor: SupervisorDep) -> Any:
    """Stop dispatching new work; what is under way finishes and is recorded."""
    request_stop(archive, run_id, RunStatus.PAUSED)
    return _action(archive, supervisor, run_id, f"run {run_id}: pause requested")


@router.post("/{run_id}/resume", response_model=RunAction, responses={**NOT_FOUND, **CONFLICT},
             summary="Resume a run")
def resume_run(run_id: RunId, archive: ArchiveDep, supervisor: SupervisorDep) -> Any:
    """Drive a paused, created or interrupted run again; work that was under way is done again."""
    pid = supervisor.start(run_id)
    return _action(archive, supervisor, run_id, f"run {run_id}: resumed" + (f" (process {pid})" if pid else ""))


@router.post("/{run_id}/cancel", response_model=RunAction, responses={**NOT_FOUND, **CONFLICT},
             summary="Cancel a run")
def cancel_run(run_id: RunId, archive: ArchiveDep, supervisor: SupervisorDep) -> Any:
    """End the run for good; what is under way finishes and is recorded."""
    request_stop(archive, run_id, RunStatus.CANCELLED)
    return _action(archive, supervisor, run_id, f"run {run_id}: cancelled")


@router.get("/{run_id}/tree", response_model=TreeOut, responses=NOT_FOUND, summary="The whole tree, in columns")
def get_tree(run_id: RunId, archive: ArchiveDep) -> Any:
    """Every node with its parent, status, own and clade counts, score and
    CMP estimate, as one list per field (compact at 10 000 nodes). For
    node objects a page at a time, use /api/runs/{id}/nodes."""
    return Response(services.tree_json(archive, run_id), media_type="application/json")


@router.get("/{run_id}/nodes", response_model=NodePage, responses=NOT_FOUND, summary="The tree, a page of nodes")
def get_nodes(
    run_id: RunId,
    archive: ArchiveDep,
    offset: int = Query(0, ge=0, le=MAX_ID, description="index of the first node (in the order asked for)"),
    limit: int = Query(500, ge=1, le=5000),
    sort: NodeSort = Query("tree", description="tree (breadth-first, parents first) or a column; nodes without "
                                                "a value there (no score yet) come last"),
    order: Literal["asc", "desc"] = Query("asc"),
) -> Any:
    """The nodes with their counts and model use, a page at a time, sorted by score, evaluations, tokens,
    cost, status, depth, ... if asked."""
    return services.node_page(archive, run_id, offset, limit, sort, order)


@router.get("/{run_id}/evaluations", response_model=EvaluationPage, responses=NOT_FOUND,
            summary="The run's evaluations, a page at a time")
def get_evaluations(
    run_id: RunId,
    archive: ArchiveDep,
    offset: int = Query(0, ge=0, le=MAX_ID, description="index of the first evaluation (oldest first)"),
    limit: int = Query(500, ge=1, le=5000),
    outcome: OutcomeName | None = Query(None, description="only the evaluations with this outcome"),
) -> Any:
    return services.evaluation_page(archive, run_id, offset, limit, outcome)


@router.get("/{run_id}/compare", response_model=CompareOut, responses=NOT_FOUND, summary="Compare nodes of a run")
def compare(
    run_id: RunId,
    archive: ArchiveDep,
    a: int = Query(ge=1, le=MAX_ID, description="a node id: the diff's old side"),
    b: int = Query(ge=1, le=MAX_ID, description="a node id: the diff's new side"),
    more: list[NodeIdItem] = Query([], max_length=MAX_COMPARED - 2,
                                   description=f"more node ids for the task matrix (at most {MAX_COMPARED - 2})"),
) -> Any:
    """The unified diff between two nodes' code (any two of the run, not only parent and child) and a task ×
    node matrix of outcomes with the evaluation ids."""
    return compare_nodes(archive, run_id, [a, b, *more])


@router.get("/{run_id}/timeline", response_model=Timeline, responses=NOT_FOUND, summary="Score and cost over time")
def get_timeline(run_id: RunId, archive: ArchiveDep) -> Any:
    return services.run_timeline(archive, run_id)


@router.get(
    "/{run_id}/best/export",
    response_class=TarGzResponse,
    responses={200: {"description": "the agent's code and clade-lineage.json",
                     "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
               **NOT_FOUND, **CONFLICT},
    summary="Export the run's best agent (.tar.gz)",
)
def export_best(run_id: RunId, archive: ArchiveDep) -> Any:
    run = archive.repo.get_run(run_id)
    if run.best_node_id is None:
        raise Conflict(f"run {run_id} has no best node yet (it is {run.status.value}): the final-agent rule "
                       "picks one when the run finishes; export a node with /api/nodes/{id}/export meanwhile")
    return export_response(archive, run.best_node_id, "tar.gz", name=f"clade-run{run_id}-best-agent.tar.gz")


def export_response(archive, node_id: int, fmt: str,  # type: ignore[no-untyped-def]
                    name: str | None = None) -> TarGzResponse:
    """The node's code as a download; named `clade-runN-nodeM.tar.gz` (or `.bundle`) unless `name` is given."""
    node = archive.repo.get_node(node_id)
    if node.commit is None:  # the node exists: its state, not its id, is what refuses the export
        raise Conflict(f"node {node_id} has no code yet (status {node.status.value}): export a built node")
    folder = tempfile.mkdtemp(prefix="clade-api-export-")
    suffix = "tar.gz" if fmt == "tar.gz" else "bundle"
    name = name or f"clade-run{node.run_id}-node{node_id}.{suffix}"
    cleanup = BackgroundTask(_remove_tree, folder)
    try:
        path = export_node(archive, node_id, Path(folder) / name, fmt)  # type: ignore[arg-type]
    except BaseException:
        cleanup.func(*cleanup.args)
        raise
    media = "application/gzip" if fmt == "tar.gz" else "application/octet-stream"
    return TarGzResponse(path, media_type=media, filename=name, background=cleanup)


def _remove_tree(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
