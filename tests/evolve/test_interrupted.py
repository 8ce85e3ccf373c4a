"""A run stopped by an error or a signal is interrupted, not failed: `resume`
goes on with nothing lost and nothing run twice. (kill -9, which leaves the
run `running`, is tests/evolve/test_resume.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from archive import Archive, RunStatus
from evaluator.benchmarks.polyglot import IMAGE_ENV
from evaluator.errors import ImageUnavailable
from evolve.runs import create_run, drive
from tests.evolve.conftest import POLYGLOT, engine_config
from tests.evolve.test_resume import wait_for_event


def _engine(archive: Archive, run_id: int, **env: str) -> subprocess.Popen:
    # SIGINT back to its default in the child: a shell that runs pytest in the background
    # (make's `&`) ignores it, Python then installs no Ctrl-C handler, and the engine would
    # never see the signal its test sends.
    return subprocess.Popen([sys.executable, "-m", "evolve.runs", str(run_id)],
                            env={**os.environ, "CLADE_HOME": str(archive.home.root), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _each_evaluation_once(archive: Archive, run_id: int, evaluations: int) -> None:
    rows = archive.repo.run_evaluations(run_id)
    assert len(rows) == evaluations and all(e.outcome is not None for e in rows)
    assert len({(e.node_id, e.task_id) for e in rows}) == len(rows)  # nothing ran twice


def _finishes_on_resume(archive: Archive, run_id: int, evaluations: int) -> None:
    assert drive(archive, run_id) == RunStatus.FINISHED
    _each_evaluation_once(archive, run_id, evaluations)
    kinds = [e.kind for e in archive.repo.events_since(run_id, limit=10_000)]
    assert "run_interrupted" in kinds and "run_resumed" in kinds and kinds[-1] == "run_finished"


def test_docker_unreachable_interrupts_the_run_and_resume_completes_it(archive: Archive, sandbox_image: str,
                                                                      scripted_world) -> None:
    run = create_run(archive, engine_config(scripted_world, budget__task_evaluations=4, budget__expansions=1))
    engine = _engine(archive, run.id, DOCKER_HOST="unix:///nonexistent/docker.sock")
    _, stderr = engine.communicate(timeout=120)
    assert engine.returncode != 0
    stopped = archive.repo.get_run(run.id)
    assert stopped.status == RunStatus.INTERRUPTED, stderr[-2000:]
    [event] = [e for e in archive.repo.events_since(run.id, limit=100) if e.kind == "run_interrupted"]
    assert "clade run resume" in event.payload["fix"] and event.payload["error"]
    _finishes_on_resume(archive, run.id, 4)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_task_image_not_built_interrupts_the_run_and_grades_nothing(archive: Archive, sandbox_image: str,
                                                                      scripted_world, monkeypatch) -> None:
    """The platform could not run the task: no `error` row counts against the root, whose
    evaluations wait, pending, for the image and `clade run resume`."""
    monkeypatch.setenv(IMAGE_ENV, "clade-polyglot:never-built")
    config = engine_config(scripted_world, benchmark__name=f"polyglot:{POLYGLOT}", benchmark__subset="go",
                           benchmark__tasks=None, budget__task_evaluations=2, budget__expansions=1)
    run = create_run(archive, config)
    with pytest.raises(ImageUnavailable, match="clade-polyglot:never-built"):
        drive(archive, run.id)
    assert archive.repo.get_run(run.id).status == RunStatus.INTERRUPTED
    started = archive.repo.run_evaluations(run.id)
    assert started and all(e.outcome is None for e in started), "graded what never ran"
    assert archive.repo.pending_work(run.id)[1]
    [event] = [e for e in archive.repo.events_since(run.id, limit=100) if e.kind == "run_interrupted"]
    assert "is not built" in event.payload["error"] and "clade run resume" in event.payload["fix"]


def test_ctrl_c_interrupts_the_run_and_resume_completes_it(archive: Archive, sandbox_image: str,
                                                           scripted_world) -> None:
    run = create_run(archive, engine_config(scripted_world, budget__task_evaluations=6, budget__expansions=1))
    engine = _engine(archive, run.id)
    try:
        wait_for_event(archive, run.id, "evaluation_started", 1)
    finally:
        engine.send_signal(signal.SIGINT)
        engine.communicate(timeout=300)
    assert archive.repo.get_run(run.id).status == RunStatus.INTERRUPTED
    assert archive.repo.pending_work(run.id)[1], "the evaluation under way is left pending for resume"
    _finishes_on_resume(archive, run.id, 6)


def _rename_table(archive: Archive, old: str, new: str) -> None:
    with archive.db.session() as s:
        s.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_database_error_interrupts_the_run_and_resume_completes_it(archive: Archive, sandbox_image: str,
                                                                     scripted_world) -> None:
    run = create_run(archive, engine_config(scripted_world, budget__task_evaluations=6, budget__expansions=1))
    engine = _engine(archive, run.id)
    try:
        wait_for_event(archive, run.id, "evaluation_started", 1)
        _rename_table(archive, "events", "events_away")  # the engine's next event write fails in the database
        _, stderr = engine.communicate(timeout=300)
    finally:
        if engine.poll() is None:
            engine.kill()
        _rename_table(archive, "events_away", "events")
    assert engine.returncode != 0
    assert archive.repo.get_run(run.id).status == RunStatus.INTERRUPTED, stderr[-2000:]
    assert "no such table: events" in stderr or 'relation "events" does not exist' in stderr  # its own words
    assert drive(archive, run.id) == RunStatus.FINISHED
    _each_evaluation_once(archive, run.id, 6)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the lease itself: tests/archive/test_lease.py
def test_two_resumes_at_once_leave_one_driver(archive: Archive, sandbox_image: str, scripted_world) -> None:
    run = create_run(archive, engine_config(scripted_world, budget__task_evaluations=4, budget__expansions=1))
    clade = str(Path(sys.executable).with_name("clade"))
    env = {**os.environ, "CLADE_HOME": str(archive.home.root)}
    resumes = [subprocess.Popen([clade, "run", "resume", str(run.id), "--json"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    said = [resume.communicate(timeout=600) for resume in resumes]
    codes = sorted(resume.returncode for resume in resumes)
    assert codes == [0, 2], said
    _, refused = said[[r.returncode for r in resumes].index(2)]
    [line] = [line for line in refused.splitlines() if line.strip()]  # one line, no traceback
    assert f"run {run.id} is being driven by" in line and f"clade run pause {run.id}" in line
    assert archive.repo.get_run(run.id).status == RunStatus.FINISHED
    _each_evaluation_once(archive, run.id, 4)
    assert sum(e.kind in ("run_started", "run_resumed") for e in archive.repo.events_since(run.id, limit=1000)) == 1
