"""The one shape of every error the API answers, whatever its status:

    {"detail": [{"loc": [...], "msg": "...", "type": "...", "field": "..."}]}

A 422 lists each refused field (`loc` as FastAPI gives it, `field` the
dotted path: `budget.task_evaluations`); every other error (401, 403, 404,
409, 413, 429, 503) is a list of one item with an empty `loc` and `field`,
its `type` naming the kind of error. One shape means a client reads
`detail[0].msg` and never has to ask first whether `detail` is a string.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

ERROR_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "too_large", 422: "value_error", 429: "too_many_streams", 503: "unavailable"}


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    return {"detail": [{"loc": [], "msg": message, "type": kind or ERROR_TYPES.get(status, "error"), "field": ""}]}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def field_errors(errors: list[tuple[tuple[str, ...], str]], kind: str = "value_error",
                 where: str = "body") -> JSONResponse:
    """A 422 naming each field, each (loc, message): FastAPI's own items plus the dotted `field`."""
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": [where, *loc], "msg": message, "type": kind, "field": ".".join(loc)} for loc, message in errors]})


def error_text(body: Any, fallback: str) -> str:
    """The messages of an error body, joined (for clients of the API: the demo server, scripts)."""
    items = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return fallback
    return "; ".join(f"{item.get('field')}: {item.get('msg')}" if item.get("field") else str(item.get("msg"))
                     for item in items if isinstance(item, dict)) or fallback
