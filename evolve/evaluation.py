"""One evaluation as a self-contained unit: a node's agent on one task.

The agent works on the task's repository in one sandbox; its patch is then
applied to a fresh copy in a second sandbox, the hidden tests run there, and
swebench grades the log (evaluator.grading). The agent never sees the hidden
tests, and nothing it leaves behind survives into the grading sandbox.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.models import Outcome
from evaluator import eval_script, gitrepo, grading
from evaluator.agent_run import AgentLimits, ModelAccess, run_agent
from evaluator.task import Task
from evolve.work import unpack_code
from sandbox.docker_sandbox import DockerSandbox
from sandbox.limits import SandboxLimits

GRADE_DIR = "/workspace/grade"


@dataclass
class EvaluateUnit:
    evaluation_id: int
    node_id: int
    task: Task
    agent_code: bytes
    access: ModelAccess
    limits: SandboxLimits
    agent_limits: AgentLimits
    tests_seconds: float


@dataclass
class EvaluateResult:
    evaluation_id: int
    outcome: Outcome
    reason: str
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)


@dataclass
class TestRun:
    grade: grading.Grade
    log: str
    timed_out: bool


def grade_in_sandbox(task: Task, repo: Path, patch: str, limits: SandboxLimits, seconds: float) -> TestRun:
    """Apply `patch` to a fresh copy of the base repository, run the hidden tests, grade."""
    moved = eval_script.relocated(task, f"{GRADE_DIR}/repo")
    with DockerSandbox(image=task.image, limits=limits) as sb:
        sb.copy_in(repo, f"{GRADE_DIR}/repo")
        sb.write_files({f"{GRADE_DIR}/model.patch": patch, f"{GRADE_DIR}/eval.sh": grading.eval_script(moved)})
        applied = sb.exec(["bash", "-c", grading.apply_script(f"{GRADE_DIR}/repo", f"{GRADE_DIR}/model.patch")],
                          timeout=60)
        log, timed_out = applied.output, False
        if eval_script.APPLY_PATCH_PASS in applied.output:
            tests = sb.exec(["bash", f"{GRADE_DIR}/eval.sh"], timeout=seconds, workdir=GRADE_DIR)
            log += tests.output
            timed_out = tests.timed_out
    return TestRun(grading.grade(moved, log, patch=patch), log, timed_out)


def run_evaluation(unit: EvaluateUnit) -> EvaluateResult:
    started = time.monotonic()
    task = unit.task
    with tempfile.TemporaryDirectory(prefix="clade-eval-") as tmp:
        code = unpack_code(unit.agent_code, Path(tmp) / "agent")
        repo = Path(tmp) / "repo"
        assert task.source_dir is not None, f"task {task.instance_id} has no repository files"
        gitrepo.materialize(task.source_dir, repo, task.base_commit, task_id=task.instance_id)
        run = run_agent(code, repo, task.problem_statement, unit.access, limits=unit.limits,
                        agent_limits=unit.agent_limits)
        logs = dict(run.files)
        logs["agent_output.txt"] = run.output
        summary = run.summary
        details: dict[str, Any] = {
            "agent_status": summary.get("status"),
            "agent_exit_code": run.exit_code,
            "agent_timed_out": run.timed_out,
            "agent_seconds": round(run.duration_s, 2),
            "patch_bytes": len(run.patch.encode()),
            "empty_patch": not run.patch.strip(),
            "context_overflow": summary.get("status") == "context_overflow",
        }

        def result(outcome: Outcome, reason: str) -> EvaluateResult:
            return EvaluateResult(unit.evaluation_id, outcome, reason, time.monotonic() - started, details, logs)

        if "summary.json" not in run.files and not run.timed_out:
            last = (run.output.strip().splitlines() or ["no output"])[-1][:300]
            return result(Outcome.ERROR, f"the agent crashed (exit {run.exit_code}) without writing its outputs: {last}")
        tests = grade_in_sandbox(task, repo, run.patch, unit.limits, unit.tests_seconds)
    logs["test_output.txt"] = tests.log
    details["tests_status"] = tests.grade.status.model_dump() if tests.grade.status else None
    if tests.grade.resolved:
        return result(Outcome.RESOLVED, "all FAIL_TO_PASS and PASS_TO_PASS tests pass")
    if tests.timed_out:
        return result(Outcome.TIMEOUT, f"the hidden tests did not finish in {unit.tests_seconds:.0f} s")
    if run.timed_out:
        return result(Outcome.TIMEOUT, f"the agent did not finish in {unit.agent_limits.seconds:.0f} s; "
                                       f"its patch so far: {tests.grade.reason}")
    return result(Outcome.UNRESOLVED, tests.grade.reason)
