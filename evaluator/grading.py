"""Grading: one code path, swebench's, for every benchmark.

The grading sandbox (or the local validator) runs two shell steps: the
model patch is applied with the same fall-backs as swebench's harness (`git
apply`, then `patch --fuzz=5`), then the task's eval script runs the hidden
tests between swebench's output markers. Their output, concatenated, is the
test log; it is written to a file and graded by
`swebench.harness.grading.get_eval_report` with the task's `TestSpec`
(`make_test_spec`), exactly as swebench grades its own runs. What Clade adds
is only the one-line reason that says *why* a task was not resolved.

swebench is imported lazily: importing its harness costs about a second.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator.tests_script import (
    APPLY_PATCH_FAIL,
    APPLY_PATCH_PASS,
    END_TEST_OUTPUT,
    START_TEST_OUTPUT,
    TESTS_DID_NOT_APPLY,
)
from evaluator.contract import REPO_DIR
from evaluator.task import Task, TestsStatus

if TYPE_CHECKING:
    from swebench.types import TestSpec

MODEL_NAME = "clade"
_MAX_LISTED = 3


def test_spec(task: Task) -> TestSpec:
    """The swebench TestSpec of a task (wraps its eval script, records the exit code)."""
    from swebench.harness.utils import make_test_spec

    return make_test_spec(task.swebench_instance())


def eval_script(task: Task) -> str:
    """The full bash script that runs the hidden tests (swebench's header included)."""
    return test_spec(task).eval_script


def sandbox_repo_dir(task: Task) -> str:
    """Where the task's repository lives in the sandboxes.

    Tasks made from files are copied to their `repo_dir`. Tasks whose
    repository is inside an image (SWE-bench's /testbed) are copied from
    there to /workspace, because a Clade sandbox's root is read-only and its
    user unprivileged: only /workspace is writable.
    """
    if task.source_dir is not None:
        return task.repo_dir
    return REPO_DIR


def task_eval_script(task: Task) -> str:
    """The task's eval script, pointed at `sandbox_repo_dir(task)`."""
    script = eval_script(task)
    if task.source_dir is not None:
        return script
    src, dst = task.repo_dir.rstrip("/"), sandbox_repo_dir(task)
    script = re.sub(rf"(?<![\w/.-]){re.escape(src)}(?![\w.-])", dst, script)
    # An editable install in the image points at the original path; make the copy win.
    header, _, body = script.partition("set -uxo pipefail\n")
    return f"{header}set -uxo pipefail\nexport PYTHONPATH={dst}${{PYTHONPATH:+:$PYTHONPATH}}\n{body}"


def apply_script(repo_dir: str, patch_file: str) -> str:
    """Shell that applies the model patch in `repo_dir` and says how it went.

    Mirrors swebench's harness: plain `git apply`, then GNU patch with fuzz.
    An empty patch applies trivially (the tests still run: that is how a
    no-op agent proves a task's tests fail on the base code).
    """
    repo, patch = shlex.quote(repo_dir), shlex.quote(patch_file)
    return (
        f"cd {repo} || exit 2\n"
        f"if [ ! -s {patch} ]; then echo 'clade: empty patch, nothing to apply'; "
        f"echo '{APPLY_PATCH_PASS}'; exit 0; fi\n"
        f"if git apply --verbose --whitespace=nowarn {patch} 2>&1; then echo '{APPLY_PATCH_PASS}'; exit 0; fi\n"
        f"if patch --batch --fuzz=5 -p1 -i {patch} 2>&1; then echo '{APPLY_PATCH_PASS}'; exit 0; fi\n"
        f"echo '{APPLY_PATCH_FAIL}'; exit 1\n"
    )


@dataclass(frozen=True)
class Grade:
    """swebench's verdict on one test log, with a reason for people."""

    resolved: bool
    tests_ran: bool
    status: TestsStatus | None
    reason: str
    report: dict[str, Any]


def grade(task: Task, log: str, *, patch: str, log_path: Path | None = None) -> Grade:
    """Grade a test log with swebench. The log is written to `log_path`
    (a temporary file when None), because swebench reads logs from files."""
    from swebench.harness.grading import get_eval_report

    spec = test_spec(task)
    prediction = {"instance_id": task.instance_id, "model_patch": patch, "model_name_or_path": MODEL_NAME}
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(log)
        report = get_eval_report(spec, prediction, str(log_path), include_tests_status=True)
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=True) as handle:
            handle.write(log)
            handle.flush()
            report = get_eval_report(spec, prediction, handle.name, include_tests_status=True)
    entry = report[task.instance_id]
    status = _status(entry.get("tests_status"))
    ran = bool(entry.get("patch_successfully_applied"))
    return Grade(
        resolved=bool(entry.get("resolved")),
        tests_ran=ran,
        status=status,
        reason=_reason(task, log, entry, status),
        report=entry,
    )


def status_map(task: Task, log: str) -> dict[str, str] | None:
    """Every test's status in the log (swebench's parser), None when the
    tests did not run. Used to derive FAIL_TO_PASS / PASS_TO_PASS."""
    from swebench.harness.grading import get_logs_eval

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=True) as handle:
        handle.write(log)
        handle.flush()
        found, ran = get_logs_eval(test_spec(task), handle.name)
    return found if ran else None


def _status(tests_status: dict[str, Any] | None) -> TestsStatus | None:
    if not tests_status:
        return None
    f2p, p2p = tests_status.get("FAIL_TO_PASS", {}), tests_status.get("PASS_TO_PASS", {})
    return TestsStatus(
        fail_to_pass_success=f2p.get("success", []),
        fail_to_pass_failure=f2p.get("failure", []),
        pass_to_pass_success=p2p.get("success", []),
        pass_to_pass_failure=p2p.get("failure", []),
    )


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _reason(task: Task, log: str, entry: dict[str, Any], status: TestsStatus | None) -> str:
    if entry.get("resolved"):
        return f"all {len(task.FAIL_TO_PASS)} FAIL_TO_PASS and {len(task.PASS_TO_PASS)} PASS_TO_PASS tests pass"
    if APPLY_PATCH_FAIL in log:
        return "the patch does not apply: " + _apply_error(log)
    if TESTS_DID_NOT_APPLY in log:
        return "the hidden tests do not apply to the patched repository (a broken task, or a patch that rewrote them)"
    if status is None:
        if START_TEST_OUTPUT not in log or END_TEST_OUTPUT not in log:
            return "the test run did not finish (no end-of-output marker in the log)"
        detail = entry.get("infra_failure_reason")
        return "no test results could be read from the log" + (f" ({detail})" if detail else "")
    parts = []
    if status.fail_to_pass_failure:
        n, total = len(status.fail_to_pass_failure), len(task.FAIL_TO_PASS)
        parts.append(f"{n} of {total} FAIL_TO_PASS tests still fail ({_listed(status.fail_to_pass_failure)})")
    if status.pass_to_pass_failure:
        n, total = len(status.pass_to_pass_failure), len(task.PASS_TO_PASS)
        parts.append(f"{n} of {total} PASS_TO_PASS tests broken ({_listed(status.pass_to_pass_failure)})")
    return "; ".join(parts) or "not resolved (swebench found no passing run of the FAIL_TO_PASS tests)"


def _apply_error(log: str) -> str:
    """The first error line git or patch printed before giving up."""
    before = log.split(APPLY_PATCH_FAIL)[0]
    for line in before.splitlines():
        text = line.strip()
        if text.startswith(("error:", "fatal:", "patch:")) or "FAILED" in text or "malformed" in text:
            return text[:300]
    tail = [line.strip() for line in before.splitlines() if line.strip()]
    return tail[-1][:300] if tail else "no output"
