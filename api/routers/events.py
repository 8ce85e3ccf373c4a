"""A run's events: a server-sent event stream, resumable from a sequence
number, and the same events as a JSON list.

Every event the engine appends (run_started, expansion_started/finished,
evaluation_started/finished, run_finished, ...) carries the run's gap-free
sequence number `seq`, sent as the SSE `id:`. A client that reconnects
sends `Last-Event-ID` (the browser's EventSource does it by itself), or
asks `?after=SEQ`: it gets every event after that one, none twice.

The stream polls the archive, so it follows runs driven by any process
(this server's workers or a `clade run start` in a terminal). It ends with
an `end` event once the run has stopped for good and no process drives it;
otherwise it is closed after `sse_max_seconds` and the client reconnects.

Streams are counted (`StreamSlots`): at most `sse_max_streams_per_client`
open at once per client address and `sse_max_streams` in all; one more gets
429 with `Retry-After`. A stream's slot is given back when it ends, however
it ends (the run stopped, the time limit, the client went away). Their
polls run on a few threads of their own (`sse_poll_threads`), never on the
pool the other requests use.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Header, Query, Request
from starlette.types import Receive, Scope, Send

from api import services
from api.errors import error_response
from api.deps import ArchiveDep, SettingsDep, SupervisorDep
from api.routers.common import MAX_ID, NOT_FOUND, TOO_MANY_STREAMS, EventStreamResponse, RunId
from api.schemas import SSE_EVENT_SCHEMA, EventList
from evolve.runs import FINAL

router = APIRouter(prefix="/api/runs", tags=["events"])
BATCH = 500
T = TypeVar("T")


class StreamSlots:
    """Open event streams, per client and in all (see the module's docstring)."""

    def __init__(self, per_client: int, total: int, poll_threads: int) -> None:
        self.per_client, self.total, self.poll_threads = per_client, total, poll_threads
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._limiter: CapacityLimiter | None = None

    def acquire(self, client: str) -> str | None:
        """Take a slot for `client`; None when taken, else why not."""
        with self._lock:
            mine = self._open.get(client, 0)
            if mine >= self.per_client:
                return (f"this client has {mine} event streams open, the most this server allows one client: "
                        "close one (or follow runs with GET /api/runs/{id}/event-log) and try again")
            if sum(self._open.values()) >= self.total:
                return (f"{self.total} event streams are open, the most this server allows: try again shortly, "
                        "or follow runs with GET /api/runs/{id}/event-log")
            self._open[client] = mine + 1
            return None

    def release(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)

    def open(self, client: str | None = None) -> int:
        with self._lock:
            return sum(self._open.values()) if client is None else self._open.get(client, 0)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` on the streams' own threads."""
        if self._limiter is None:  # made inside the event loop, on first use
            self._limiter = CapacityLimiter(self.poll_threads)
        return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=self._limiter)


def client_key(request: Request) -> str:
    # Every client of a server holds the one token, so a client is told apart by its address.
    return request.client.host if request.client else "unknown"


class SlotStreamResponse(EventStreamResponse):
    """An event stream that gives its slot back once it is over, however it ends."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _after(after: int, last_event_id: str | None) -> int:
    if last_event_id is not None:
        try:
            return min(max(int(last_event_id.strip()), 0), MAX_ID)
        except ValueError:
            pass
    return after


def _frame(event: dict[str, Any]) -> str:
    return f"id: {event['seq']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


@router.get(
    "/{run_id}/events",
    response_class=EventStreamResponse,
    responses={200: {"description": "text/event-stream; each event's id is its seq, its data the event as JSON",
                     "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}},
               **NOT_FOUND, **TOO_MANY_STREAMS},
    summary="Follow a run's events (server-sent events)",
)
async def stream_events(
    run_id: RunId,
    request: Request,
    archive: ArchiveDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    after: int = Query(0, ge=0, le=MAX_ID, description="send events with seq greater than this"),
    last_event_id: str | None = Header(None, description="set by EventSource on reconnection; wins over ?after"),
) -> Any:
    start = _after(after, last_event_id)
    slots: StreamSlots = request.app.state.streams
    client = client_key(request)
    refused = slots.acquire(client)
    if refused is not None:
        retry = str(settings.sse_retry_after_seconds)
        return error_response(429, refused, headers={"Retry-After": retry})
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release(client)

    try:
        await slots.run(archive.repo.get_run, run_id)  # 404 before the stream starts
    except BaseException:
        release()
        raise
    poll = slots.run  # the streams' own threads

    async def frames() -> AsyncIterator[str]:
        last = start
        deadline = time.monotonic() + settings.sse_max_seconds
        beat = time.monotonic() + settings.sse_heartbeat_seconds
        yield "retry: 2000\n\n"
        while True:
            events = await poll(archive.repo.events_since, run_id, last, BATCH)
            for event in events:
                last = event.seq
                yield _frame(services.event_out(event))
            if len(events) == BATCH:
                continue
            if not events:
                run = await poll(archive.repo.get_run, run_id)
                stopped = run.status in FINAL and not await poll(supervisor.driving, run_id)
                if stopped and not await poll(archive.repo.events_since, run_id, last, 1):
                    yield f"event: end\ndata: {json.dumps({'status': run.status.value, 'last_seq': last})}\n\n"
                    return
                now = time.monotonic()
                if now >= deadline or await request.is_disconnected():
                    return
                if now >= beat:
                    beat = now + settings.sse_heartbeat_seconds
                    yield ": keep-alive\n\n"
            await asyncio.sleep(settings.sse_poll_seconds)

    return SlotStreamResponse(frames(), release, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{run_id}/event-log", response_model=EventList, responses=NOT_FOUND, summary="A run's events as JSON")
def list_events(
    run_id: RunId,
    archive: ArchiveDep,
    after: int = Query(0, ge=0, le=MAX_ID, description="events with seq greater than this"),
    limit: int = Query(1000, ge=1, le=10000),
) -> Any:
    archive.repo.get_run(run_id)
    events = [services.event_out(e) for e in archive.repo.events_since(run_id, after, limit)]
    return {"run_id": run_id, "events": events, "last_seq": events[-1]["seq"] if events else after}
