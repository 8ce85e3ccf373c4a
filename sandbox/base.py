"""The `Sandbox` interface every isolation backend implements.

Modelled on Inspect AI's sandbox environment (exec, write_file, read_file),
but synchronous: the evaluator and the search run sandboxes on a thread pool,
and a blocking API keeps agent-facing code simple. Other rooms program
against this class, never against Docker, so that another backend (a VM, a
remote worker) can be slotted in later.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self


@dataclass(frozen=True)
class ExecResult:
    """What one command did.

    ``output`` is stdout and stderr interleaved in the order they were
    written (one pipe, as on a terminal), decoded as UTF-8 (invalid bytes
    replaced). When ``truncated`` is true the middle was
    dropped: the head and the tail are kept, because a test run's verdict is
    usually at the end and its first error at the start.
    """

    exit_code: int
    output: str
    timed_out: bool = False
    truncated: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited 0 within its time limit."""
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class CopyReport:
    """What `Sandbox.copy_out` wrote on the host and what it refused.

    Links, devices and FIFOs are never recreated on the host (they are how a
    hostile sandbox would point a later host-side write somewhere else); they
    are listed in ``skipped`` with the reason.
    """

    files: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


Command = str | Sequence[str]

# What one read may copy per file unless the caller says otherwise (never
# more than the sandbox's `max_transfer_bytes`), and how many entries a
# `copy_out` may bring out.
READ_MAX_BYTES = 64 * 1024 * 1024
COPY_MAX_FILES = 100_000


class Sandbox(abc.ABC):
    """An isolated place to run untrusted commands and move files in and out.

    Use it as a context manager so that it is closed on every exit path::

        with open_sandbox() as sb:  # sandbox.factory
            sb.write_file("main.py", "print('hi')")
            result = sb.exec(["python3", "main.py"], timeout=30)

    Relative paths are relative to the working directory (``/workspace``).
    """

    workdir: str = "/workspace"

    @abc.abstractmethod
    def exec(
        self,
        cmd: Command,
        *,
        timeout: float | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | str | None = None,
        user: str = "sandbox",
        kill_leftovers: bool = True,
    ) -> ExecResult:
        """Run ``cmd`` (argv list, or a string for ``/bin/sh -c``) and wait for it.

        ``user`` is ``"sandbox"`` (the unprivileged user untrusted code runs
        as) or ``"grader"`` (another unprivileged user, for the files that
        code must be able to read but never change).

        ``kill_leftovers``: when the command returns (or times out), kill
        every process of ``user`` still running in the sandbox, however it
        left the command (background ``&``, ``setsid``, ``env -i``, double
        forks), so nothing it started can act after it. Pass False to keep
        a server started by one exec for the next. Other execs of the same
        user running at the same moment are spared, except processes of
        theirs that dropped their environment. Without it, only a timed-out
        command's processes that kept their environment are killed.

        Never raises for what the command does (non-zero exit, timeout,
        unknown command: exit 127); raises `SandboxError` only when the
        sandbox itself cannot run anything.
        """

    @abc.abstractmethod
    def write_files(self, files: Mapping[str, bytes | str], *, mode: int = 0o644, user: str = "sandbox") -> None:
        """Create or replace files, owned by ``user``; parent directories are created."""

    @abc.abstractmethod
    def read_files(self, paths: Iterable[str], *, max_bytes: int | None = None) -> dict[str, bytes]:
        """Return the contents of regular files, keyed by the path as given.

        Before anything is copied, each file is looked at inside the sandbox:
        one larger than ``max_bytes`` (default `READ_MAX_BYTES`; never more
        than the sandbox's ``max_transfer_bytes``) raises `TransferTooLarge`,
        a sparse one (mostly holes) `SparseFile` (a `TransferTooLarge`), and
        all of them together may hold at most ``max_transfer_bytes``. At most
        that much is ever read into host memory. Missing: `SandboxFileNotFound`;
        a directory, symlink, FIFO or device: `NotARegularFile`; all of them
        `SandboxError`.
        """

    @abc.abstractmethod
    def copy_in(self, host_path: str | Path, dest: str, *, user: str = "sandbox") -> None:
        """Copy a host file or directory tree to ``dest`` in the sandbox, owned by ``user``."""

    @abc.abstractmethod
    def copy_out(self, src: str, host_dir: str | Path, *, max_bytes: int | None = None,
                 max_files: int | None = None) -> CopyReport:
        """Copy a sandbox file or directory tree into the host directory ``host_dir``.

        The tree is walked inside the sandbox first: more than ``max_bytes``
        of regular files in all (default and ceiling: the sandbox's
        ``max_transfer_bytes``) or more than ``max_files`` entries (default
        `COPY_MAX_FILES`) raises `TransferTooLarge`, a sparse file `SparseFile`,
        and nothing is copied.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop everything in the sandbox and free it. Idempotent."""

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644, user: str = "sandbox") -> None:
        """Create or replace one file."""
        self.write_files({path: data}, mode=mode, user=user)

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Return the contents of one regular file (at most ``max_bytes``; see `read_files`)."""
        return self.read_files([path], max_bytes=max_bytes)[path]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
