"""Writing one `LLMCall` row per call, off the request path.

A database commit costs a millisecond on SQLite and more on PostgreSQL; the
gateway must add less than that to a call. Rows therefore go through a
queue to one writer thread, in order. Budgets never wait for it: they are
kept in memory (llm.budget), and the archive is their record. `flush()`
waits until every row queued so far is written (tests, shutdown).

A failing database does not stop the gateway: the row is logged as lost
and calls go on being served and limited.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from archive.repository import ArchiveRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """The fields of `ArchiveRepository.record_llm_call`."""

    model: str
    run_id: int | None
    node_id: int | None
    evaluation_id: int | None
    purpose: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float | None
    error: str | None

    def as_kwargs(self) -> dict[str, Any]:
        return dict(self.__dict__)


_STOP = object()


class CallRecorder:
    def __init__(self, repo: ArchiveRepository | None) -> None:
        self.repo = repo
        self.failures = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.repo is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clade-llm-recorder", daemon=True)
            self._thread.start()

    def record(self, row: CallRecord) -> None:
        if self.repo is not None:
            self._queue.put(row)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row queued before this call is written (or lost)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert self.repo is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.repo.record_llm_call(**item.as_kwargs())
            except Exception:  # the gateway keeps serving; the row is reported lost
                self.failures += 1
                log.exception("could not record a model call in the archive (run %s): the row is lost", item.run_id)
