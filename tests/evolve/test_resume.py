"""kill -9 of the engine at several points of a step, then `resume`: no node
or evaluation lost or run twice, no sandbox left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import docker
import pytest

from archive import Archive, CladeHome, NodeStatus, RunStatus, open_archive
from evolve.runs import create_run, drive
from sandbox.reaper import LABEL_PID
from tests.evolve.conftest import engine_config


def wait_for_event(archive: Archive, run_id: int, kind: str, count: int, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e.kind == kind for e in archive.repo.events_since(run_id, limit=10_000)) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count}x {kind} within {timeout} s")


KILL_POINTS = {
    "during-seed-evaluation": ("evaluation_started", 1, 1.5),  # the seed's agent is working on a task
    "during-expansion": ("expansion_started", 1, 0.5),  # diagnosis / the parent modifying itself
    "after-validation": ("expansion_finished", 1, 0.0),  # between a child's validation and the next dispatch
    "during-child-evaluation": ("evaluation_started", 4, 1.0),  # a child's evaluation under way
}
# Every kill point on SQLite; PostgreSQL (the scale-out archive) at one of them.
CASES = [("sqlite", name) for name in KILL_POINTS] + [("postgres", "during-child-evaluation")]


@pytest.mark.parametrize(
    "database_url, kill_after, count, delay",
    [pytest.param(db, *KILL_POINTS[name], id=f"{db}-{name}") for db, name in CASES],
    indirect=["database_url"],
)
def test_kill_9_then_resume(
    archive: Archive, sandbox_image: str, scripted_world, kill_after: str, count: int, delay: float
) -> None:
    config = engine_config(scripted_world, budget__task_evaluations=8, budget__expansions=2)
    run = create_run(archive, config)
    env = {**os.environ, "CLADE_HOME": str(archive.home.root)}
    engine = subprocess.Popen([sys.executable, "-m", "evolve.runs", str(run.id)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_event(archive, run.id, kill_after, count)
        time.sleep(delay)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    client = docker.from_env()

    def left_by_dead_engine() -> list:
        return client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_PID}={engine.pid}"})

    interrupted = archive.repo.get_run(run.id)
    assert interrupted.status == RunStatus.RUNNING  # nobody could record anything else
    pending_nodes, pending_evaluations = archive.repo.pending_work(run.id)
    rows_before = {e.id for e in archive.repo.run_evaluations(run.id)}

    assert drive(archive, run.id) == RunStatus.FINISHED

    assert left_by_dead_engine() == []  # the resumed engine reaped the dead one's sandboxes

    evaluations = archive.repo.run_evaluations(run.id)
    nodes = archive.repo.list_nodes(run.id)
    assert len(evaluations) == 8 and all(e.outcome is not None for e in evaluations)
    assert len({(e.node_id, e.task_id) for e in evaluations}) == len(evaluations)  # nothing ran twice
    assert rows_before <= {e.id for e in evaluations}  # nothing recorded before the kill was lost
    for pending in pending_evaluations:  # work under way was redone on the same rows
        assert next(e for e in evaluations if e.id == pending.id).outcome is not None
    for pending in pending_nodes:
        assert next(n for n in nodes if n.id == pending.id).status in {NodeStatus.VALID, NodeStatus.INVALID}
    assert all(n.status in {NodeStatus.VALID, NodeStatus.INVALID} for n in nodes)
    assert len(nodes) == 3  # root + the 2 expansions of the budget, none duplicated
    kinds = [e.kind for e in archive.repo.events_since(run.id, limit=10_000)]
    assert "run_resumed" in kinds and kinds[-1] == "run_finished"
    tree = archive.repo.tree(run.id)
    root = next(n for n in tree.values() if n.parent_id is None)
    assert root.clade_total == 8


def _decisions(archive: Archive, run_id: int) -> tuple[list[tuple], list[tuple], dict | None]:
    """Everything the search decided, in the order it decided it."""
    nodes = [(n.id, n.parent_id, n.status.value, n.entry_task) for n in archive.repo.list_nodes(run_id)]
    evaluations = [(e.id, e.node_id, e.task_id, e.outcome.value if e.outcome else None)
                   for e in archive.repo.run_evaluations(run_id)]
    return nodes, evaluations, archive.repo.get_run(run_id).search_state


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_resumed_run_decides_as_an_uninterrupted_one(archive: Archive, sandbox_image: str, scripted_world,
                                                       tmp_path) -> None:  # type: ignore[no-untyped-def]
    # One worker, so the order of decisions is the random generator's alone.
    config = engine_config(scripted_world, workers=1, seed=7, budget__task_evaluations=7, budget__expansions=2)
    twin = open_archive(CladeHome(tmp_path / "uninterrupted"))  # same ids as the run below: a fresh archive
    try:
        uninterrupted = create_run(twin, config)
        assert drive(twin, uninterrupted.id) == RunStatus.FINISHED
        expected = _decisions(twin, uninterrupted.id)
    finally:
        twin.close()

    run = create_run(archive, config)
    engine = subprocess.Popen([sys.executable, "-m", "evolve.runs", str(run.id)],
                              env={**os.environ, "CLADE_HOME": str(archive.home.root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_event(archive, run.id, "evaluation_started", 4)  # past the root's, into the children's
        time.sleep(0.5)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    assert archive.repo.get_run(run.id).status == RunStatus.RUNNING
    assert drive(archive, run.id) == RunStatus.FINISHED

    assert _decisions(archive, run.id) == expected
