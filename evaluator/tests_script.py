"""The test script for tasks that ship as files (built-in and Polyglot).

SWE-bench instances bring their own `eval_script`; tasks made from files get
one built here in the same shape, so that swebench's `make_test_spec` and
log parsers treat both alike. The script, run in the repository after the
model's patch has been applied:

1. puts back (or removes) every file the hidden tests touch, so a patch that
   wrote its own version of a hidden test file cannot shadow it;
2. applies the hidden test patch;
3. runs the test command between swebench's `>>>>> Start Test Output` and
   `>>>>> End Test Output` markers (swebench adds the exit-code record).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluator.task import Task

# swebench.harness.constants' markers, copied so that building a script does
# not import swebench's harness (a second); a test keeps them equal.
START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
APPLY_PATCH_FAIL = ">>>>> Patch Apply Failed"
APPLY_PATCH_PASS = ">>>>> Applied Patch"

HEREDOC = "EOF_CLADE_HIDDEN_TESTS"
TESTS_DID_NOT_APPLY = "clade: the hidden tests do not apply"

_DIFF_PATH = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


def patch_paths(patch: str) -> list[str]:
    """Files a git diff touches (new names), in order, without repeats."""
    seen: dict[str, None] = {}
    for old, new in _DIFF_PATH.findall(patch):
        seen.setdefault(old, None)
        seen.setdefault(new, None)
    return list(seen)


def prepare(*, repo_dir: str, base_commit: str, test_patch: str) -> str:
    """Shell that puts the hidden tests in place: every file they touch back to the base
    commit (or removed), then the test patch applied. The grader runs it, not the tests' user."""
    if HEREDOC in test_patch:
        raise ValueError(f"the test patch contains the heredoc marker {HEREDOC}")
    if not test_patch.endswith("\n"):
        test_patch += "\n"
    files = " ".join(shlex.quote(p) for p in patch_paths(test_patch))
    lines = [
        f"cd {shlex.quote(repo_dir)}",
        f"for f in {files}; do "
        f"if git cat-file -e {base_commit}:\"$f\" 2>/dev/null; then git checkout -q {base_commit} -- \"$f\"; "
        "else rm -rf -- \"$f\"; fi; done",
        f"git apply --whitespace=nowarn - <<'{HEREDOC}' || {{ echo '{TESTS_DID_NOT_APPLY}'; exit 3; }}",
        test_patch + HEREDOC,
    ]
    return "\n".join(lines) + "\n"


def build(*, repo_dir: str, base_commit: str, test_patch: str, test_cmd: str,
          env: Iterable[tuple[str, str]] = ()) -> str:
    """The eval script text (without the `#!/bin/bash` / `set -uxo pipefail`
    header, which swebench's TestSpec adds): the swebench-shaped record of how
    the task's tests run, used by the local validator (trusted tasks only; the
    grading sandbox runs these steps apart, see `evaluator.grader`)."""
    lines = [
        prepare(repo_dir=repo_dir, base_commit=base_commit, test_patch=test_patch).rstrip("\n"),
        *(f"export {k}={shlex.quote(v)}" for k, v in env),
        f"echo '{START_TEST_OUTPUT}'",
        test_cmd,
        f"echo '{END_TEST_OUTPUT}'",
    ]
    return "\n".join(lines) + "\n"


def relocated(task: Task, repo_dir: str) -> Task:
    """The same task with its repository at `repo_dir` (the local validator
    runs tests in a temporary folder instead of the sandbox's /workspace)."""
    if task.test_cmd is None:
        raise ValueError(f"task {task.instance_id} brings its own eval script; it cannot be moved")
    script = build(repo_dir=repo_dir, base_commit=task.base_commit, test_patch=task.test_patch, test_cmd=task.test_cmd)
    return task.model_copy(update={"repo_dir": repo_dir, "eval_script": script})
