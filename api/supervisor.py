"""How the server runs evolution runs: each run's engine in a child process.

`clade serve` starts a run's engine with `evolve.runs.detach` — the same
`python -m evolve.runs RUN` process that `clade run start --detach`
starts — rather than in a thread of the server, because:

- an engine owns a worker pool, its own LLM gateway and Docker sandboxes
  for minutes or hours; a crash or a memory blow-up in it must not take
  the web UI down with it, nor the other runs;
- the run outlives the server: restarting `clade serve` does not stop or
  restart runs, and the server finds them again through the archive (the
  run's driver lease says which process drives it), exactly as it sees
  runs started from the CLI;
- pause, resume and cancel then work the same whoever started the run:
  they are requests written into the run's status, which the engine reads.

The server keeps the pids it started and reaps them when they exit (a
finished child left unreaped would look alive to `engine_alive`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from archive import Archive
from archive.errors import CladeError
from archive.models import RunStatus
from evolve.runs import FINAL, detach, driver, engine_alive

Launcher = Callable[[int], "int | None"]


class Conflict(CladeError):
    """The request does not fit the run's state (HTTP 409)."""


class RunSupervisor:
    def __init__(self, archive: Archive, launcher: Launcher | None = None) -> None:
        self.archive = archive
        self._launch: Launcher = launcher or (lambda run_id: detach(archive, run_id, wait_s=0))
        self._children: dict[int, int] = {}  # run id -> pid of the engine this server started
        self._lock = threading.Lock()

    def start(self, run_id: int) -> int | None:
        """Drive the run in a new engine process (a new run, or a resume)."""
        with self._lock:
            run = self.archive.repo.get_run(run_id)
            if run.status in FINAL:
                raise Conflict(f"run {run_id} is {run.status.value}: it cannot go on; start a new run")
            if self._driving(run_id):
                pid = self._children.get(run_id) or driver(self.archive, run_id)
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

