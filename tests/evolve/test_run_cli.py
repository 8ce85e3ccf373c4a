"""`clade run ...` and `clade export --best` as a user drives them: start,
pause, resume, cancel, status, the final confirmation on held-out tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from archive import Archive, Outcome, RunStatus
from evolve.runs import engine_alive
from tests.evolve.conftest import TASK_IDS, engine_config
from tests.evolve.test_resume import wait_for_event

CLADE = str(Path(sys.executable).with_name("clade"))


def clade(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLADE, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def write_config(path: Path, server, **changes) -> Path:
    path.write_text(yaml.safe_dump(engine_config(server, **changes).model_dump(mode="json")))
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_confirm_and_export_best(archive: Archive, sandbox_image: str, scripted_world, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "run.yaml", scripted_world,
        benchmark__held_out=[TASK_IDS[3]], final__confirm_top=2, budget__task_evaluations=6,
    )
    started = clade("run", "start", str(config), "--json")
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["status"] == "finished" and run["best_node_id"] is not None
    evaluations = archive.repo.run_evaluations(run["id"])
    search = [e for e in evaluations if e.task_id != TASK_IDS[3]]
    confirmation = [e for e in evaluations if e.task_id == TASK_IDS[3]]
    assert len(search) == 6  # the budget is the search's; the confirmation comes on top
    assert 1 <= len(confirmation) <= 2 and all(e.outcome is not None for e in confirmation)
    assert run["best_node_id"] in {e.node_id for e in confirmation}
    best_held_out = [e.outcome for e in confirmation if e.node_id == run["best_node_id"]]
    assert best_held_out == [Outcome.RESOLVED]
    kinds = [e.kind for e in archive.repo.events_since(run["id"], limit=1000)]
    assert kinds.index("confirmation_started") < kinds.index("run_finished")

    out = tmp_path / "best.tar.gz"
    exported = clade("export", str(run["id"]), "--best", "-o", str(out))
    assert exported.returncode == 0 and f"exported node {run['best_node_id']}" in exported.stdout
    status = json.loads(clade("run", "status", str(run["id"]), "--json").stdout)
    assert status["best_node_id"] == run["best_node_id"] and status["engine_alive"] is False
    assert status["driver"] is None
    assert status["search"]["policy"] == "hgm" and status["search"]["conventions"]["invalid_children"] == "evaluate"
    said = clade("run", "status", str(run["id"])).stdout
    assert "searched with hgm (" in said and "invalid_children: evaluate" in said


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pause_resume_cancel(archive: Archive, sandbox_image: str, scripted_world, tmp_path: Path) -> None:
    config = write_config(tmp_path / "run.yaml", scripted_world, budget__task_evaluations=6)
    started = clade("run", "start", str(config), "--detach", "--json")
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    wait_for_event(archive, run_id, "evaluation_started", 1)
    paused = clade("run", "pause", str(run_id))
    assert paused.returncode == 0 and "pause requested" in paused.stdout
    deadline = time.monotonic() + 300
    while engine_alive(archive, run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not engine_alive(archive, run_id)
    run = archive.repo.get_run(run_id)
    assert run.status == RunStatus.PAUSED
    assert all(e.outcome is not None for e in archive.repo.run_evaluations(run_id))  # under way: finished
    assert run.evaluations_count < 6

    resumed = clade("run", "resume", str(run_id), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "finished"
    assert archive.repo.get_run(run_id).evaluations_count == 6

    again = clade("run", "resume", str(run_id))
    assert again.returncode == 2 and "is finished: it cannot go on" in again.stderr

    second = json.loads(clade("run", "start", str(config), "--detach", "--json").stdout)["run_id"]
    cancelled = clade("run", "cancel", str(second))
    assert cancelled.returncode == 0
    deadline = time.monotonic() + 300
    while engine_alive(archive, second) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert archive.repo.get_run(second).status == RunStatus.CANCELLED
    assert clade("run", "resume", str(second)).returncode == 2
    no_best = clade("export", str(second), "--best", "-o", str(tmp_path / "x.tar.gz"))
    assert no_best.returncode == 2 and "has no best node yet" in no_best.stderr


def test_the_engine_log_has_a_line_per_change_not_per_second(caplog: pytest.LogCaptureFixture) -> None:
    from evolve.engine import Progress
    from evolve.runs import ProgressLog

    def progress(finished: int) -> Progress:
        return Progress(nodes=3, valid=1, evaluations_finished=finished, evaluations_budget=10, running=["x"],
                        best_node_id=1, best_score="0/9")

    log = ProgressLog(heartbeat_s=0.2)
    with caplog.at_level("INFO"):
        for finished in (9, 9, 9, 9, 10, 10):
            log(progress(finished))
        time.sleep(0.25)
        log(progress(10))  # nothing changed for a while: one line says the engine is still there
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["nodes 3 (1 valid), evaluations 9/10, best 1 0/9",
                     "nodes 3 (1 valid), evaluations 10/10, best 1 0/9",
                     "nodes 3 (1 valid), evaluations 10/10, best 1 0/9"], lines
