"""Turn a folder of files into a git repository whose commit id is fixed.

Built-in tasks and Polyglot exercises ship as plain files, not as git
history. The agent contract needs a git repository (the agent's patch is a
diff against its starting commit), and SWE-bench's task model needs a
`base_commit`. Committing with a fixed author, committer, date and message,
and with git's content filters switched off, makes the commit id a pure
function of the files: the same files give the same `base_commit` on every
machine, so it can be recorded in the task and checked when the task is
materialised (a mismatch means the files were edited without re-recording).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from archive.git import run_git
from evaluator.errors import BadTask

FIXED_DATE = "2024-01-01T00:00:00+00:00"
COMMIT_MESSAGE = "base"
GIT_ENV: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": "Clade",
    "GIT_AUTHOR_EMAIL": "clade@localhost",
    "GIT_COMMITTER_NAME": "Clade",
    "GIT_COMMITTER_EMAIL": "clade@localhost",
    "GIT_AUTHOR_DATE": FIXED_DATE,
    "GIT_COMMITTER_DATE": FIXED_DATE,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
}
# Settings that would otherwise let a user's git config change the bytes committed.
_NEUTRAL_CONFIG = ("-c", "core.autocrlf=false", "-c", "core.fileMode=true", "-c", "core.safecrlf=false",
                   "-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")


def git(repo: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in `repo` with a neutral identity and config (`archive.git.GitError` on failure with `check`)."""
    return run_git(repo, *_NEUTRAL_CONFIG, *args, env=GIT_ENV, input=input, check=check)


def init_repo(dest: Path, files_from: Path | None = None, *, files: Mapping[str, str] | None = None,
              exclude: Sequence[str] = ()) -> str:
    """Create a repository at `dest` holding the files and return its commit id.

    `files_from` is copied (caches left out); `files` are written on top;
    paths in `exclude` (relative) are left out of the copy.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if files_from is not None:
        skip = {Path(p) for p in exclude}

        def ignore(directory: str, names: list[str]) -> set[str]:
            ignored = set(_IGNORED(directory, names))
            rel = Path(directory).relative_to(files_from)
            return ignored | {n for n in names if rel / n in skip}

        shutil.copytree(files_from, dest, ignore=ignore, dirs_exist_ok=True)
    for rel, text in (files or {}).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(dest, "init", "-q")
    git(dest, "add", "--all", "--force", ".")
    git(dest, "commit", "-q", "--allow-empty", "--no-verify", "-m", COMMIT_MESSAGE)
    return head(dest)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def materialize(source: Path, dest: Path, expected_commit: str | None = None, *, task_id: str = "",
                exclude: Sequence[str] = ()) -> str:
    """`init_repo` plus a check that the commit is the one the task records."""
    commit = init_repo(dest, source, exclude=exclude)
    if expected_commit and commit != expected_commit:
        raise BadTask(
            f"task {task_id}: the files in {source} give commit {commit[:12]}, but the task records "
            f"{expected_commit[:12]}; if the edit was intended, re-record it with "
            "`python -m evaluator.builtin_tools fix`"
        )
    return commit


CACHE_ENV = "CLADE_REPO_CACHE"
_cache_lock = threading.Lock()


def cache_root() -> Path:
    """Where `cached` keeps base repositories ($CLADE_REPO_CACHE, else the temp folder)."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "clade-task-repos")


def cached(source: Path, commit: str, *, task_id: str = "", exclude: Sequence[str] = ()) -> Path:
    """A read-only-by-convention base repository for `commit`, made once and reused.

    The commit id names the content, so a repository made for it can serve
    every later evaluation of the task (sandboxes get copies; nobody writes
    here). It is made in a private folder and renamed into place, so
    concurrent makers (threads or processes) never see half a repository.
    """
    if not commit:
        raise BadTask(f"task {task_id} records no base_commit; re-record it with "
                      "`python -m evaluator.builtin_tools fix`")
    dest = cache_root() / commit
    if (dest / ".git" / "HEAD").is_file():
        return dest
    with _cache_lock:
        if (dest / ".git" / "HEAD").is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=dest.parent))
        try:
            materialize(source, work / "repo", commit, task_id=task_id, exclude=exclude)
            try:
                (work / "repo").rename(dest)
            except OSError:  # another process won the race: its copy is identical
                if not (dest / ".git" / "HEAD").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest


def apply_patch(repo: Path, patch: str) -> tuple[bool, str]:
    """Apply a diff to the work tree the way the grading sandbox does.

    Returns (applied, git's message). Used by the validator and by the
    host-side gold agent; the sandbox runs the same commands in its shell.
    """
    if not patch.strip():
        return True, "empty patch"
    if not patch.endswith("\n"):
        patch += "\n"
    result = git(repo, "apply", "--whitespace=nowarn", "-", input=patch, check=False)
    return result.returncode == 0, (result.stderr or result.stdout).strip()


def diff(repo: Path, base: str) -> str:
    """Every change in the work tree against `base` (new files included)."""
    git(repo, "add", "--all", "--force", ".")
    return git(repo, "diff", "--cached", "--binary", base).stdout
