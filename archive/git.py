"""The one way Clade runs the git command line.

`run_git(cwd, *args)` runs `git` with a fixed committer identity (so a
commit never depends on, or fails for want of, the user's git config),
captures its output as text, and, when `check` is true, turns a non-zero
exit into a `GitError` whose message names the command and git's own
message. The code store (`archive.codestore`), the task repositories
(`evaluator.gitrepo`) and the workers (`evolve.work`) all go through it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from archive.errors import CladeError

# Overridden by GIT_AUTHOR_* / GIT_COMMITTER_* in `env` where a caller sets them.
IDENTITY = ("-c", "user.name=clade", "-c", "user.email=clade@localhost")
_MAX_MESSAGE = 2000


class GitError(CladeError, subprocess.CalledProcessError):
    """A git command exited non-zero.

    Also a `subprocess.CalledProcessError` (`returncode`, `cmd`, `stdout`,
    `stderr`), so code written against `subprocess.run(..., check=True)`
    keeps working. Built from positional arguments only, so it pickles.
    """

    def __init__(self, returncode: int, cmd: list[str], output: str | None = None, stderr: str | None = None,
                 cwd: str | None = None) -> None:
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.cwd = cwd

    @property
    def command(self) -> str:
        """The command as the caller wrote it (without the fixed identity)."""
        argv = list(self.cmd)
        if argv[1 : 1 + len(IDENTITY)] == list(IDENTITY):
            argv = argv[:1] + argv[1 + len(IDENTITY) :]
        return " ".join(argv)

    def __str__(self) -> str:
        said = (self.stderr or "").strip() or (self.stdout or "").strip() or "no output"
        if len(said) > _MAX_MESSAGE:
            said = said[:_MAX_MESSAGE] + " ..."
        where = f" in {self.cwd}" if self.cwd else ""
        return f"`{self.command}` failed (exit {self.returncode}){where}: {said}"


def run_git(cwd: Path | str, *args: str, env: Mapping[str, str] | None = None, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `git ARGS` in `cwd` and return the finished process (text output).

    `env` is added on top of this process's environment (e.g. GIT_DIR,
    GIT_INDEX_FILE, a fixed author date). `input` is written to git's
    standard input; without it git reads nothing (never the terminal). With
    `check`, a non-zero exit raises `GitError`; without, the caller reads
    `returncode`.
    """
    command = ["git", *IDENTITY, *args]
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **env} if env is not None else None, input=input,
        stdin=subprocess.DEVNULL if input is None else None, text=True, capture_output=True, check=False,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise GitError(done.returncode, command, done.stdout, done.stderr, str(cwd))
    return done
