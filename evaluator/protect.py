"""What the task owns: everything that builds, finds, configures, feeds or runs its tests.

The patch may change anything else. What it changed here is set aside
before the tests run — restored from the base commit, or removed if the
patch added it — and recorded on the evaluation, so a grade always comes
from the task's own test set-up.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from evaluator.languages.registry import GUARDED


def test_folders(hidden: list[str]) -> set[str]:
    """Folders that hold hidden test files (the repository root excepted): the task's, whole."""
    return {str(PurePosixPath(p).parent) for p in hidden if str(PurePosixPath(p).parent) != "."}


def owned(path: str, *, language: str, hidden: list[str], new: bool, task_files: tuple[str, ...] = ()) -> bool:
    """True when `path` belongs to the task's test set-up, whatever the patch did to it. `task_files`:
    visible files of the set-up (Go's cases_test.go, Java's given exception classes), owned one by one:
    unlike a hidden test's, their folder is not (Java's sit beside the solution, in src/main/java)."""
    if path in hidden or path in task_files or any(path == d or path.startswith(d + "/") for d in test_folders(hidden)):
        return True
    if path == ".git" or path.startswith(".git/"):
        return True
    module = GUARDED.get(language)  # every language the grader runs (evaluator.languages.registry)
    return module.owns(path, new) if module is not None else False


def set_aside(changed: list[str], added: list[str], *, language: str, hidden: list[str],
              task_files: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(paths to restore from the base commit, paths to remove) among what the patch touched."""
    restore = sorted(p for p in changed if owned(p, language=language, hidden=hidden, new=False, task_files=task_files))
    remove = sorted(p for p in added if owned(p, language=language, hidden=hidden, new=True, task_files=task_files))
    return restore, remove
