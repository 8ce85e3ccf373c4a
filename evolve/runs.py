"""Starting, resuming and stopping runs: what `clade run ...` and the API call.

A run's configuration is stored with it, so `resume` needs only its id. The
engine runs in the calling process (attached, with a live view) or in a
detached child process (`python -m evolve.runs RUN_ID`) whose pid is kept
in the run's folder, so that any later process can tell whether it lives.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from archive import Archive, open_archive
from archive.errors import CladeError
from archive.models import Run, RunStatus
from evolve.config import RunConfig, validate_config
from evolve.engine import Progress, RunEngine
from evaluator.agents import seed_agent_dir
from evolve.tasks import load_held_out, load_tasks

FINAL = {RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED}


def create_run(archive: Archive, config: RunConfig) -> Run:
    """Record a new run (config validated, tasks loadable) with the seed agent as its root."""
    load_tasks(config.benchmark)  # fail now, not in the middle of the run
    if config.executor == "ray":
        from evolve.ray_executor import preflight

        preflight(archive, config.ray)  # PostgreSQL, a cluster that answers: before anything is written
    run, _root = archive.create_run(config.name, config.model_dump(mode="json"), seed_agent_dir())
    archive.repo.append_event(run.id, "run_created", {"policy": config.policy.name})
    return run


def run_config(run: Run) -> RunConfig:
    return validate_config(run.config, f"the stored configuration of run {run.id}")


def drive(archive: Archive, run_id: int, on_progress: Callable[[Progress], None] | None = None) -> RunStatus:
    """Run the engine in this process until the run finishes, pauses or is cancelled."""
    run = archive.repo.get_run(run_id)
    if run.status in FINAL:
        raise CladeError(f"run {run_id} is {run.status.value}: it cannot go on; start a new run")
    if engine_alive(archive, run_id):
        raise CladeError(f"run {run_id} is already being driven by process {read_pid(archive, run_id)}")
    config = run_config(run)
    write_pid(archive, run_id, os.getpid())
    try:
        engine = RunEngine(archive, run_id, config, load_tasks(config.benchmark),
                           held_out=load_held_out(config.benchmark), on_progress=on_progress)
        return engine.run()
    finally:
        pid_file(archive, run_id).unlink(missing_ok=True)


def detach(archive: Archive, run_id: int) -> int:
    """Drive the run in a background process; returns its pid."""
    log_path = archive.home.run_dir(run_id) / "engine.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "evolve.runs", str(run_id)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "CLADE_HOME": str(archive.home.root)},
        )
    return child.pid


def request_stop(archive: Archive, run_id: int, status: RunStatus) -> Run:
    """Ask the driving process to pause or cancel (it sees it within a second).
    A run nobody drives changes at once."""
    run = archive.repo.get_run(run_id)
    if run.status in FINAL:
        raise CladeError(f"run {run_id} is already {run.status.value}")
    return archive.repo.set_run_status(run_id, status)


# -- the driving process's pid --------------------------------------------------
def pid_file(archive: Archive, run_id: int) -> Path:
    return archive.home.run_dir(run_id) / "engine.pid"


def write_pid(archive: Archive, run_id: int, pid: int) -> None:
    path = pid_file(archive, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(pid))


def read_pid(archive: Archive, run_id: int) -> int | None:
    try:
        return int(pid_file(archive, run_id).read_text())
    except (OSError, ValueError):
        return None


def engine_alive(archive: Archive, run_id: int) -> bool:
    pid = read_pid(archive, run_id)
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child its parent has not reaped yet is a zombie, not a driver
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = int(sys.argv[1])
    archive = open_archive()
    status = drive(archive, run_id, on_progress=lambda p: logging.info(
        "nodes %d (%d valid), evaluations %d/%d, best %s %s", p.nodes, p.valid, p.evaluations_finished,
        p.evaluations_budget, p.best_node_id, p.best_score))
    logging.info("run %d: %s", run_id, status.value)


if __name__ == "__main__":
    main()
