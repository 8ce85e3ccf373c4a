"""How the server runs evolution runs: each run's engine in a child process.

`clade serve` starts a run's engine with `evolve.runs.detach` — the same
`python -m evolve.runs RUN` process that `clade run start --detach`
starts — rather than in a thread of the server, because:

- an engine owns a worker pool, its own LLM gateway and Docker sandboxes
  for minutes or hours; a crash or a memory blow-up in it must not take
  the web UI down with it, nor the other runs;
- the run outlives the server: restarting `clade serve` does not stop or
  restart runs, and the server finds them again through the archive (the
  pid file in the run's folder says which process drives it), exactly as
  it sees runs started from the CLI;
- pause, resume and cancel then work the same whoever started the run:
  they are requests written into the run's status, which the engine reads.

The server keeps the pids it started and reaps them when they exit (a
finished child left unreaped would look alive to `engine_alive`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from archive import Archive
from archive.errors import CladeError
from archive.models import RunStatus
from evolve.config import RunConfig
from evolve.runs import FINAL, detach, engine_alive, read_pid

Launcher = Callable[[int], "int | None"]


class Conflict(CladeError):
    """The request does not fit the run's state (HTTP 409)."""


class ConfigPathError(CladeError):
    """A configuration names a path outside the folders the server allows (HTTP 422)."""

    def __init__(self, field: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


class RunSupervisor:
    def __init__(self, archive: Archive, launcher: Launcher | None = None) -> None:
        self.archive = archive
        self._launch: Launcher = launcher or (lambda run_id: detach(archive, run_id))
        self._children: dict[int, int] = {}  # run id -> pid of the engine this server started
        self._lock = threading.Lock()

    def start(self, run_id: int) -> int | None:
        """Drive the run in a new engine process (a new run, or a resume)."""
        with self._lock:
            run = self.archive.repo.get_run(run_id)
            if run.status in FINAL:
                raise Conflict(f"run {run_id} is {run.status.value}: it cannot go on; start a new run")
            if self._driving(run_id):
                pid = self._children.get(run_id) or read_pid(self.archive, run_id)
                if run.status in (RunStatus.PAUSED, RunStatus.CANCELLED):
                    raise Conflict(f"run {run_id} is still stopping (process {pid} is finishing the work under "
                                   "way); resume it once it has stopped")
                raise Conflict(f"run {run_id} is already being driven by process {pid}")
            pid = self._launch(run_id)
            if pid is not None:
                self._children[run_id] = pid
            return pid

    def driving(self, run_id: int) -> bool:
        with self._lock:
            return self._driving(run_id)

    def _driving(self, run_id: int) -> bool:
        self._reap()
        return run_id in self._children or engine_alive(self.archive, run_id)

    def _reap(self) -> None:
        for run_id, pid in list(self._children.items()):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                done = pid
            if done:
                del self._children[run_id]

    def reap(self) -> None:
        with self._lock:
            self._reap()


def _inside(path: Path, roots: list[Path]) -> bool:
    resolved = path.expanduser().resolve()
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def check_config_paths(config: RunConfig, roots: list[Path]) -> None:
    """Every file-system path in a configuration that came over HTTP must lie
    inside an allowed folder (after resolving `..` and symbolic links)."""
    folder = config.prompts.folder
    shown = ", ".join(str(r) for r in roots)
    if folder is not None:
        if not folder.is_absolute():
            raise ConfigPathError(("prompts", "folder"), f"prompts.folder must be an absolute path inside {shown}")
        if not _inside(folder, roots):
            raise ConfigPathError(("prompts", "folder"),
                                  f"prompts.folder {folder} is outside the folders this server may read ({shown}); "
                                  "start `clade serve --allow-dir DIR` to allow another")
    kind, _, arg = config.benchmark.name.partition(":")
    if arg and kind.strip().lower() in {"polyglot", "swebench"}:
        # The loaders read the argument as a path (after `~` expansion, relative to
        # the working folder) whenever something is there; a bare dataset name
        # resolves inside the working folder, which is allowed.
        candidate = Path(arg.strip()).expanduser()
        if not candidate.is_absolute():
            candidate = Path.cwd() / candidate
        if not _inside(candidate, roots):
            raise ConfigPathError(("benchmark", "name"),
                                  f"benchmark {config.benchmark.name!r} names a path outside the folders this "
                                  f"server may read ({shown}); start `clade serve --allow-dir DIR` to allow another")
