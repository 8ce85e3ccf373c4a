"""Starting, resuming and stopping runs: what `clade run ...` and the API call.

A run's configuration is stored with it, so `resume` needs only its id. The
engine runs in the calling process (attached, with a live view) or in a
detached child process (`python -m evolve.runs RUN_ID`). Whichever it is
holds the run's driver lease in the archive (archive/lease.py), so any later
process, on any machine, can tell who drives the run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from archive import Archive, open_archive
from archive.errors import CladeError
from archive.lease import DriverLease, current_driver, owner_pid
from archive.models import Run, RunStatus
from evolve.config import RunConfig, validate_config
from evolve.engine import Progress, RunEngine
from evaluator.agents import seed_agent_dir
from evolve.tasks import load_held_out, load_tasks

FINAL = {RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED}


def create_run(archive: Archive, config: RunConfig) -> Run:
    """Record a new run (config validated, tasks loadable) with the seed agent as its root."""
    tasks = load_tasks(config.benchmark) + load_held_out(config.benchmark)  # fail now, not in the middle of the run
    if config.executor == "ray":
        from evolve.ray_executor import preflight

        preflight(archive, config.ray)  # PostgreSQL, a cluster that answers: before anything is written
    with tempfile.TemporaryDirectory(prefix="clade-seed-") as tmp:
        seed = seed_agent_dir()
        if config.agent.seed == "mini-swe-agent":
            from evaluator import agents_image

            # Its nodes run there, on every task's own image (Polyglot's toolchain image, say):
            # fail now, saying how to build each, not at the first evaluation.
            for base in sorted({None} | {task.image for task in tasks}, key=lambda image: image or ""):
                agents_image.require(base)
            seed = agents_image.write_seed(Path(tmp)) / "agent"
        run, _root = archive.create_run(config.name, config.model_dump(mode="json"), seed)
    archive.repo.append_event(run.id, "run_created", {"policy": config.policy.name})
    return run


def run_config(run: Run) -> RunConfig:
    return validate_config(run.config, f"the stored configuration of run {run.id}")


def drive(archive: Archive, run_id: int, on_progress: Callable[[Progress], None] | None = None) -> RunStatus:
    """Run the engine in this process until the run finishes, pauses or is cancelled.
    The archive's driver lease makes this process the run's only driver (`RunBusy` otherwise)."""
    run = archive.repo.get_run(run_id)
    if run.status in FINAL:
        raise CladeError(f"run {run_id} is {run.status.value}: it cannot go on; start a new run")
    config = run_config(run)
    lease = DriverLease(archive.db, run_id)
    lease.acquire()
    try:
        lease.start_heartbeat()
        engine = RunEngine(archive, run_id, config, load_tasks(config.benchmark), lease=lease,
                           held_out=load_held_out(config.benchmark), on_progress=on_progress)
        return engine.run()
    finally:
        lease.release()


def detach(archive: Archive, run_id: int, wait_s: float = 120.0) -> int:
    """Drive the run in a background process; returns its pid once that process
    holds the run's lease, or raises with the reason it gave (its log's last lines)."""
    log_path = archive.home.run_dir(run_id) / "engine.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "evolve.runs", str(run_id)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "CLADE_HOME": str(archive.home.root)},
        )
    if wait_s <= 0:  # the caller keeps the child and watches it itself (the server's supervisor)
        return child.pid
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        owner = driver(archive, run_id)
        if owner is not None and owner_pid(owner)[1] == child.pid:
            return child.pid
        if child.poll() is not None:
            with log_path.open("rb") as written:
                written.seek(start)
                said = [line for line in written.read().decode(errors="replace").splitlines() if line.strip()]
            if child.returncode == 0:  # it drove the run to its end already
                return child.pid
            raise CladeError(f"run {run_id}: the background engine stopped at once (exit {child.returncode}): "
                             f"{said[-1] if said else 'no output'}; its log is {log_path}")
        time.sleep(0.1)
    raise CladeError(f"run {run_id}: the background engine (pid {child.pid}) did not take the run within "
                     f"{wait_s:.0f} s; see {log_path}")


def request_stop(archive: Archive, run_id: int, status: RunStatus) -> Run:
    """Ask the driving process to pause or cancel (it sees it within a second).
    A run nobody drives changes at once."""
    run = archive.repo.get_run(run_id)
    if run.status in FINAL:
        raise CladeError(f"run {run_id} is already {run.status.value}")
    return archive.repo.set_run_status(run_id, status)


def driver(archive: Archive, run_id: int) -> str | None:
    """Who drives the run now (`host:pid:nonce` from its lease), or None."""
    return current_driver(archive.db, run_id)


def engine_alive(archive: Archive, run_id: int) -> bool:
    return driver(archive, run_id) is not None


class ProgressLog:
    """The engine process's progress lines (its engine.log, the tail of which the run page
    shows): one when the counts change, and one a minute while they do not, instead of
    the engine's report once a second that buried what happened."""

    def __init__(self, heartbeat_s: float = 60.0) -> None:
        self.heartbeat_s = heartbeat_s
        self._last: str | None = None
        self._at = 0.0

    def __call__(self, p: Progress) -> None:
        line = (f"nodes {p.nodes} ({p.valid} valid), evaluations {p.evaluations_finished}/{p.evaluations_budget}, "
                f"best {p.best_node_id} {p.best_score}")
        now = time.monotonic()
        if line != self._last or now - self._at >= self.heartbeat_s:
            logging.info("%s", line)
            self._last, self._at = line, now


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = int(sys.argv[1])
    archive = open_archive()
    try:
        status = drive(archive, run_id, on_progress=ProgressLog())
    except CladeError as exc:  # a second driver, a final run: one line, exit 2, as the CLI says it
        logging.error("%s", exc)
        sys.exit(2)
    logging.info("run %d: %s", run_id, status.value)


if __name__ == "__main__":
    main()
