"""Run a file-based task's tests on this machine, without Docker.

This is the validator's engine: it proves, in seconds and with no image,
that a task is sound (FAIL_TO_PASS fail and PASS_TO_PASS pass on the base
code; everything passes with the gold patch). It runs the task's apply and
eval scripts (the swebench-shaped record of how its tests run) and grades
with the same swebench call as the grading sandbox, but without the
grader's protections (`evaluator.grader`: another user, set-aside, canaries,
the harness's report).

It executes the task's code and tests on the host: use it for tasks you
trust (the shipped ones), never for an agent's patch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evaluator import tests_script, gitrepo, grading
from evaluator.task import Task


@dataclass(frozen=True)
class LocalRun:
    log: str
    grade: grading.Grade
    statuses: dict[str, str] | None
    timed_out: bool
    seconds: float


def _env() -> dict[str, str]:
    """PATH with this interpreter first, so `python -m pytest` finds pytest.

    Plugin autoloading is off: this interpreter's environment is Clade's, whose
    pytest plugins are not the task's and cost seconds per run to load.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.update({k: v for k, v in gitrepo.GIT_ENV.items()})
    return env


def _bash(script: str, cwd: Path, timeout: float) -> tuple[str, bool]:
    try:
        done = subprocess.run(["bash", "-c", script], cwd=cwd, env=_env(), capture_output=True, text=True,
                              errors="replace", timeout=timeout, start_new_session=True)
        return done.stdout + done.stderr, False
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        return (out.decode(errors="replace") if isinstance(out, bytes) else out), True


def run_tests(task: Task, patch: str, *, workdir: Path | None = None, timeout: float | None = None) -> LocalRun:
    """Materialise the base repo, apply `patch`, run the hidden tests, grade."""
    if task.source_dir is None:
        raise ValueError(f"task {task.instance_id} has no files on this host (its repository lives in an image)")
    with tempfile.TemporaryDirectory(prefix="clade-local-") as tmp:
        root = Path(workdir or tmp)
        repo = root / "repo"
        gitrepo.materialize(task.source_dir, repo, task.base_commit, task_id=task.instance_id,
                            exclude=task.source_exclude)
        moved = tests_script.relocated(task, str(repo))
        (root / "model.patch").write_text(patch)
        started = time.monotonic()
        applied, _ = _bash(grading.apply_script(str(repo), str(root / "model.patch")), root, 60)
        log, timed_out = applied, False
        if tests_script.APPLY_PATCH_PASS in applied:
            (root / "eval.sh").write_text(grading.eval_script(moved))
            output, timed_out = _bash(f"bash {root / 'eval.sh'}", root, timeout or task.test_timeout)
            log += output
        grade = grading.grade(moved, log, patch=patch)
        statuses = grading.status_map(moved, log)
        return LocalRun(log=log, grade=grade, statuses=statuses, timed_out=timed_out,
                        seconds=time.monotonic() - started)
