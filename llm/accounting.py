"""Writing one `LLMCall` row per call, off the request path, and losing none.

A database commit costs a millisecond on SQLite and more on PostgreSQL; the
gateway must add less than that to a call. Rows therefore go through a
queue to one writer thread, in order. Budgets never wait for it: they are
kept in memory (llm.budget), and the archive is their record. `flush()`
waits until every row queued so far is written (tests, shutdown).

A queue lives in memory, so a driver killed with rows still in it, or a
database that refused them, would under-count what the run spent. With a
`spool` (a run's gateway has one, in the run's folder), each row is first
appended to that file, before the answer goes back to the caller: a write
to the page cache, microseconds, and it survives the process. Every row
carries a unique `key`; the next recorder on the same spool writes the rows
the archive lacks (`replay`) and only then empties it, so a row is
recorded once whatever was killed when.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

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
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # the same call is recorded once

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


_STOP = object()
MAX_BATCH = 256  # rows written in one transaction at most


class CallRecorder:
    def __init__(self, repo: ArchiveRepository | None, spool: Path | None = None) -> None:
        self.repo = repo
        self.spool = spool if repo is not None else None
        self.failures = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._spool_file: IO[str] | None = None
        self._spool_lock = threading.Lock()

    def start(self) -> None:
        if self.repo is not None and self._thread is None:
            if self.spool is not None:
                self.replay()
                self.spool.parent.mkdir(parents=True, exist_ok=True)
                self._spool_file = self.spool.open("a", encoding="utf-8")
            self._thread = threading.Thread(target=self._run, name="clade-llm-recorder", daemon=True)
            self._thread.start()

    def replay(self) -> int:
        """Record the spooled rows the archive lacks (a killed driver's last calls), then
        empty the spool; returns how many were missing. A row cut short by the kill is skipped."""
        assert self.repo is not None and self.spool is not None
        try:
            lines = self.spool.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return 0
        rows = []
        for line in lines:
            try:
                rows.append(CallRecord(**json.loads(line)))
            except (ValueError, TypeError):  # the half-written last line of a kill
                continue
        missing = self.repo.record_llm_calls_once([row.as_kwargs() for row in rows])
        if missing:
            log.info("recorded %d model call(s) a previous driver had answered but not written", missing)
        self.spool.write_text("", encoding="utf-8")
        return missing

    def record(self, row: CallRecord) -> None:
        if self.repo is None:
            return
        if self._spool_file is not None:
            with self._spool_lock:
                self._spool_file.write(json.dumps(row.as_kwargs()) + "\n")
                self._spool_file.flush()  # to the kernel: a kill -9 of this process keeps it
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
        if self._spool_file is not None:
            self._spool_file.close()
            self._spool_file = None
            if self.failures == 0 and self.spool is not None:  # every row is in the archive
                self.spool.write_text("", encoding="utf-8")

    def _run(self) -> None:
        """Write what queued up, many rows to a transaction when calls come fast."""
        assert self.repo is not None
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [item for item in batch if isinstance(item, CallRecord)]
            if rows:
                self._write(rows)
            for item in batch:
                if isinstance(item, threading.Event):  # a flush: every row queued before it is written
                    item.set()
            if any(item is _STOP for item in batch):
                return

    def _write(self, rows: list[CallRecord]) -> None:
        assert self.repo is not None
        try:
            self.repo.record_llm_calls_once([row.as_kwargs() for row in rows])
        except Exception:  # the gateway keeps serving; the spool keeps the rows for the next driver
            self.failures += len(rows)
            log.exception("could not record %d model call(s) in the archive (run %s): %s", len(rows), rows[0].run_id,
                          "the spool keeps them for the next driver" if self.spool else "the rows are lost")
