"""Pieces the routers share: documented error responses and response classes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from fastapi.responses import JSONResponse

from api.errors import field_errors
from api.schemas import ErrorOut  # noqa: F401 - referenced by $ref

def _error(description: str) -> dict[str, Any]:
    # The content is spelled out (not `model=`) so that routes answering a
    # file or a stream still document their errors as JSON.
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid token (Authorization: Bearer TOKEN, or the login cookie)"),
    403: _error("a cookie-authenticated change from another site"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("no such run, node, evaluation or log file")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _error("the run's state does not allow it")}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: _error("the request body is larger than the server reads")}
TOO_MANY_STREAMS: dict[int | str, dict[str, Any]] = {
    429: {**_error("too many event streams open (this client's or all); Retry-After says when to try again"),
          "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}},
}


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


class TarGzResponse(FileResponse):
    media_type = "application/gzip"


class TextResponse(PlainTextResponse):
    media_type = "text/plain"


def unprocessable(loc: tuple[str, ...], message: str, kind: str = "value_error") -> JSONResponse:
    """A 422 naming one body field (api.errors' shape)."""
    return field_errors([(loc, message)], kind)


def unprocessable_fields(errors: list[tuple[tuple[str, ...], str]], kind: str = "value_error") -> JSONResponse:
    """A 422 naming several body fields, each (loc, message)."""
    return field_errors(errors, kind)


MAX_ID = 2**63 - 1  # what a database integer column holds
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="a run id")]
NodeId = Annotated[int, Path(ge=1, le=MAX_ID, description="a node id")]
EvaluationId = Annotated[int, Path(ge=1, le=MAX_ID, description="an evaluation id")]
