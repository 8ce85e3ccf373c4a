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
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from api import services
from api.deps import ArchiveDep, SettingsDep, SupervisorDep
from api.routers.common import MAX_ID, NOT_FOUND, EventStreamResponse, RunId
from api.schemas import SSE_EVENT_SCHEMA, EventList
from evolve.runs import FINAL

router = APIRouter(prefix="/api/runs", tags=["events"])
BATCH = 500


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
               **NOT_FOUND},
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
    await run_in_threadpool(archive.repo.get_run, run_id)  # 404 before the stream starts

    async def frames() -> AsyncIterator[str]:
        last = start
        deadline = time.monotonic() + settings.sse_max_seconds
        beat = time.monotonic() + settings.sse_heartbeat_seconds
        yield "retry: 2000\n\n"
        while True:
            events = await run_in_threadpool(archive.repo.events_since, run_id, last, BATCH)
            for event in events:
                last = event.seq
                yield _frame(services.event_out(event))
            if len(events) == BATCH:
                continue
            if not events:
                run = await run_in_threadpool(archive.repo.get_run, run_id)
                stopped = run.status in FINAL and not await run_in_threadpool(supervisor.driving, run_id)
                if stopped and not await run_in_threadpool(archive.repo.events_since, run_id, last, 1):
                    yield f"event: end\ndata: {json.dumps({'status': run.status.value, 'last_seq': last})}\n\n"
                    return
                now = time.monotonic()
                if now >= deadline or await request.is_disconnected():
                    return
                if now >= beat:
                    beat = now + settings.sse_heartbeat_seconds
                    yield ": keep-alive\n\n"
            await asyncio.sleep(settings.sse_poll_seconds)

    return EventStreamResponse(frames(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
