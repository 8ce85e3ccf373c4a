"""Whole runs on a real local Ray cluster (head + two worker nodes) with the
archive in PostgreSQL, real sandboxes on each worker's Docker, and the
scripted model behind the real gateway, reached through the bridge and the
workers' relays.

- The same configuration and seed gives the same tree size and number of
  evaluations with `local` and `ray`.
- A worker process killed with SIGKILL in the middle of an evaluation, or a
  whole worker node lost: the unit runs again elsewhere, and is recorded
  once; nothing is lost.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import docker
import pytest

from archive import Archive, NodeStatus, Outcome, RunStatus
from evolve.runs import create_run, drive
from sandbox.reaper import LABEL_PID
from tests.evolve.conftest import engine_config
from tests.evolve.test_run_cli import clade, write_config
from tests.evolve.test_resume import wait_for_event
from tests.scaleout.conftest import RayCluster, parent_pid, worker_processes

pytest.importorskip("ray")
pytestmark = [pytest.mark.docker, pytest.mark.postgres]
POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
BUDGET = {"budget__task_evaluations": 8, "budget__expansions": 2}


def summary(archive: Archive, run_id: int) -> dict:
    nodes = archive.repo.list_nodes(run_id)
    evaluations = archive.repo.run_evaluations(run_id)
    kinds = [e.kind for e in archive.repo.events_since(run_id, limit=10_000)]
    return {
        "status": archive.repo.get_run(run_id).status,
        "nodes": len(nodes),
        "valid_children": sum(n.status == NodeStatus.VALID for n in nodes if n.parent_id is not None),
        "evaluations": len(evaluations),
        "finished": sum(e.outcome is not None for e in evaluations),
        "distinct": len({(e.node_id, e.task_id) for e in evaluations}),
        "recorded": kinds.count("evaluation_finished"),
        "expansions_recorded": kinds.count("expansion_finished"),
        "errors": sum(e.outcome == Outcome.ERROR for e in evaluations),
    }


def assert_complete(archive: Archive, run_id: int) -> dict:
    found = summary(archive, run_id)
    assert found == {"status": RunStatus.FINISHED, "nodes": 3, "valid_children": 2, "evaluations": 8, "finished": 8,
                     "distinct": 8, "recorded": 8, "expansions_recorded": 2, "errors": 0}, found
    return found


def start_in_thread(archive: Archive, run_id: int) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["status"] = drive(archive, run_id)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="driver")
    thread.start()
    return thread, outcome


def running_evaluation(archive: Archive, run_id: int, after: int, timeout: float = 300) -> tuple[int, int]:
    """(evaluation id, worker pid) of an evaluation numbered > `after` that a Ray worker has been
    running for a second: its sandboxes are up, the agent is working or being graded."""
    deadline = time.monotonic() + timeout
    seen: dict[int, float] = {}
    while time.monotonic() < deadline:
        _, pending = archive.repo.pending_work(run_id)
        pending_ids = {e.id for e in pending}
        for pid, title in worker_processes("ray::clade-evaluate-").items():
            evaluation_id = int(title.rsplit("-", 1)[1])
            if evaluation_id in pending_ids and evaluation_id > after:
                first = seen.setdefault(pid, time.monotonic())
                if time.monotonic() - first >= 1.0 and worker_processes("ray::clade-evaluate-").get(pid) == title:
                    return evaluation_id, pid  # still at it
        time.sleep(0.1)
    raise AssertionError("no evaluation ran on a Ray worker long enough to be interrupted")


def finish(thread: threading.Thread, outcome: dict) -> None:
    thread.join(timeout=600)
    assert not thread.is_alive(), "the run did not finish"
    if "error" in outcome:
        raise outcome["error"]
    assert outcome["status"] == RunStatus.FINISHED


@POSTGRES
def test_a_ray_run_matches_a_local_run(
    archive: Archive, sandbox_image: str, scripted_world, ray_cluster: RayCluster
) -> None:
    local = create_run(archive, engine_config(scripted_world, **BUDGET))
    assert drive(archive, local.id) == RunStatus.FINISHED
    on_ray = create_run(archive, engine_config(scripted_world, executor="ray", **BUDGET))
    started = time.monotonic()
    assert drive(archive, on_ray.id) == RunStatus.FINISHED
    ray_seconds = time.monotonic() - started

    assert assert_complete(archive, on_ray.id) == assert_complete(archive, local.id)
    evaluations = archive.repo.run_evaluations(on_ray.id)
    # Every evaluation ran in a Ray worker on a worker node (the head runs none), each node did some.
    workers = [e.details["worker"] for e in evaluations]
    assert {w["node_id"] for w in workers} == ray_cluster.node_ids(), (workers, ray_seconds)
    assert all(w["pid"] != os.getpid() for w in workers)
    assert not any("worker" in (e.details or {}) for e in archive.repo.run_evaluations(local.id))
    logs = archive.home.logs_dir(on_ray.id)
    children = [n for n in archive.repo.list_nodes(on_ray.id) if n.parent_id is not None]
    assert all((logs / f"node-{n.id}" / "worker.json").is_file() for n in children)
    assert all(Path(e.log_path, "trajectory.jsonl").is_file() for e in evaluations)  # logs kept by the driver
    # Model calls from the workers' sandboxes and diagnoses came through the bridge, accounted as on one machine.
    calls = archive.repo.llm_calls(run_id=on_ray.id)
    assert {c.purpose for c in calls} == {"diagnosis", "self_improve", "solve"}
    assert all(c.evaluation_id for c in calls if c.purpose == "solve")
    assert archive.repo.get_run(on_ray.id).llm_calls_count == len(calls)
    # The workers never opened an archive of their own.
    assert list(ray_cluster.worker_home.iterdir()) == []


@POSTGRES
def test_killing_a_worker_process_mid_evaluation_loses_nothing(
    archive: Archive, sandbox_image: str, scripted_world, ray_cluster: RayCluster
) -> None:
    run = create_run(archive, engine_config(scripted_world, executor="ray", **BUDGET))
    thread, outcome = start_in_thread(archive, run.id)
    try:
        wait_for_event(archive, run.id, "expansion_finished", 1)  # children exist: their evaluations are long
        evaluation_id, pid = running_evaluation(archive, run.id, after=0)
        os.kill(pid, signal.SIGKILL)
    finally:
        finish(thread, outcome)

    assert_complete(archive, run.id)
    evaluation = archive.repo.get_evaluation(evaluation_id)
    assert evaluation.outcome in {Outcome.RESOLVED, Outcome.UNRESOLVED}  # run again to the end, not an error
    assert evaluation.details["worker"]["pid"] != pid
    finished = [e for e in archive.repo.events_since(run.id, limit=10_000) if e.kind == "evaluation_finished"]
    assert [e.payload["evaluation_id"] for e in finished].count(evaluation_id) == 1  # recorded once
    # The killed worker's sandboxes were reaped by the next unit on this machine.
    assert docker.from_env().containers.list(all=True, sparse=True, filters={"label": f"{LABEL_PID}={pid}"}) == []


@POSTGRES
def test_losing_a_worker_node_mid_evaluation_runs_it_elsewhere(
    archive: Archive, sandbox_image: str, scripted_world, ray_cluster: RayCluster
) -> None:
    run = create_run(archive, engine_config(scripted_world, executor="ray", **BUDGET))
    thread, outcome = start_in_thread(archive, run.id)
    lost = None
    try:
        wait_for_event(archive, run.id, "expansion_finished", 1)
        evaluation_id, pid = running_evaluation(archive, run.id, after=0)
        raylet = parent_pid(pid)
        lost = next(n for n in ray_cluster.workers if ray_cluster.raylet_pid(n) == raylet)
        ray_cluster.remove_worker(lost)  # the machine is gone: raylet, its workers, its object store
    finally:
        finish(thread, outcome)
        ray_cluster.add_worker()  # back to two worker nodes for the tests after this one

    assert_complete(archive, run.id)
    evaluation = archive.repo.get_evaluation(evaluation_id)
    assert evaluation.outcome in {Outcome.RESOLVED, Outcome.UNRESOLVED}
    assert evaluation.details["worker"]["node_id"] != lost.node_id  # retried on the surviving node
    finished = [e for e in archive.repo.events_since(run.id, limit=10_000) if e.kind == "evaluation_finished"]
    assert [e.payload["evaluation_id"] for e in finished].count(evaluation_id) == 1


@POSTGRES
def test_clade_run_start_with_executor_ray(
    archive: Archive, sandbox_image: str, scripted_world, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "run.yaml", scripted_world, budget__task_evaluations=3, budget__expansions=1)
    started = clade("run", "start", str(config), "--executor", "ray", "--ray-address", ray_cluster.cluster.address,
                    "--json")
    assert started.returncode == 0, started.stderr[-2000:]
    run = json.loads(started.stdout)
    assert run["status"] == "finished" and run["evaluations"] == 3 and run["nodes"] == 2
    stored = archive.repo.get_run(run["id"]).config
    assert stored["executor"] == "ray" and stored["ray"]["address"] == ray_cluster.cluster.address
    evaluations = archive.repo.run_evaluations(run["id"])
    assert {e.details["worker"]["node_id"] for e in evaluations} <= ray_cluster.node_ids()
