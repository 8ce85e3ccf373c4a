"""The FastAPI application: the REST API under /api, the web UI, /healthz.

    app = create_app(ServerSettings(home=CladeHome.from_env()))

One app serves everything; runs are driven by engine processes that the
app's `RunSupervisor` starts (see api/supervisor.py for why processes).

Authentication is checked twice on purpose: by an ASGI middleware in front
of everything (so an unauthenticated request learns nothing — not even
whether a route exists or a body is malformed — before its 401), and by a
dependency on every route, which is what puts the bearer and cookie
security schemes into the OpenAPI document.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response, field_errors
from api.auth import COOKIE_NAME, SAFE_METHODS, UNAUTHORIZED, TokenAuth, ensure_token, require_auth
from api.posted import PostedConfigError, PostedRunConfig
from api.routers import evaluations, events, health, nodes, runs, web
from api.routers.common import AUTH_ERRORS
from api.schemas import ErrorOut, StreamEnd
from api.settings import ServerSettings
from api.supervisor import Launcher, RunSupervisor
from archive import Archive, open_archive
from archive.errors import CladeError, DatabaseError, NotFound
from evolve.config import error_message

PUBLIC_PATHS = {"/healthz", "/login", "/logout"}
PUBLIC_PREFIX = "/static/"  # the CSS and scripts: nothing secret, and the login page needs its style
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
# Swagger UI for /docs, from a PyPI package's copy (the server loads nothing from elsewhere).
SWAGGER_DIR = Path(importlib.util.find_spec("fastapi_swagger.resources").origin).parent  # type: ignore[union-attr]
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
]


def _wants_html(scope: Scope) -> bool:
    path = scope.get("path", "")
    if path.startswith("/api/") or path == "/api" or path == "/healthz":
        return False
    accept = dict(scope.get("headers") or []).get(b"accept", b"")
    return b"text/html" in accept or b"*/*" in accept or not accept


class AuthMiddleware:
    """401 for any request without the token (bearer header or login cookie),
    403 for a cookie-authenticated state change from another origin, and
    the security headers on every response."""

    def __init__(self, app: ASGIApp, auth: TokenAuth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the app has no WebSocket routes: refuse before anything
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        if scope["path"] not in PUBLIC_PATHS and not scope["path"].startswith(PUBLIC_PREFIX):
            request = Request(scope)
            header = request.headers.get("authorization", "")
            scheme, _, credentials = header.partition(" ")
            by_token = scheme.lower() == "bearer" and self.auth.check_token(credentials.strip())
            by_cookie = not by_token and self.auth.check_cookie(request.cookies.get(COOKIE_NAME))
            if not (by_token or by_cookie):
                response = _unauthorized(scope)
                await response(scope, receive, send_with_headers)
                return
            if by_cookie and request.method not in SAFE_METHODS:
                origin = request.headers.get("origin")
                if origin is not None and origin.split("://", 1)[-1].rstrip("/") != request.headers.get("host", ""):
                    response = error_response(403, "cross-site request refused: use the server's own pages "
                                                   "or a bearer token")
                    await response(scope, receive, send_with_headers)
                    return
        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """413 for a request body larger than `max_bytes`, before any of it is
    parsed: a declared Content-Length is checked first, and a body sent in
    chunks is read (into memory, at most `max_bytes`) before the app sees it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self) -> Response:
        shown = f"{self.max_bytes // 1024} KiB" if self.max_bytes < 1024**2 else f"{self.max_bytes / 1024**2:g} MiB"
        return error_response(413, f"the request body is larger than {shown} ({self.max_bytes} bytes), the most "
                                   "this server reads: a run configuration needs a few KiB; send less",
                              headers={"Connection": "close"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for key, value in scope.get("headers") or [] if key.lower() == b"content-length"]
        unreadable = not all(v.strip().isdigit() for v in declared)
        if declared and (unreadable or max(int(v) for v in declared) > self.max_bytes):
            await self._too_large()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: pass that on
                first = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        pending = [first]

        async def replay() -> Message:
            if pending:
                return pending.pop()
            return await receive()

        await self.app(scope, replay, send)


def _unauthorized(scope: Scope) -> Response:
    headers = {"WWW-Authenticate": "Bearer"}
    if _wants_html(scope):
        body = (Path(__file__).resolve().parent / "web" / "templates" / "login_needed_static.html").read_text()
        return Response(body, status_code=401, media_type="text/html; charset=utf-8", headers=headers)
    return error_response(401, UNAUTHORIZED, headers=headers)


MAX_ECHO_CHARS = 1000  # of a refused input echoed back in a 422


def _echo(value: Any, cut: bool = True) -> Any:
    """A refused input as a 422 shows it: JSON-safe (NaN and Infinity as text)
    and short (a long one cut, so that an error is never larger than needed)."""
    def safe(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {str(k): safe(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [safe(x) for x in v]
        return v

    try:
        cleaned = safe(value)
    except RecursionError:
        return "(too deeply nested to show)"
    if not cut:
        return cleaned
    try:
        text = json.dumps(cleaned)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:MAX_ECHO_CHARS]
    return cleaned if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "..."


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation errors, each with its dotted field path added
    (`budget.task_evaluations`, `models.backends.0.max_concurrency`)."""
    out = []
    for encoded in jsonable_encoder(errors):
        error = {k: _echo(v, cut=k == "input") if k in ("input", "ctx") else v for k, v in encoded.items()}
        loc = [str(part) for part in error.get("loc", [])]
        field = ".".join(loc[1:] if loc and loc[0] in {"body", "query", "path", "header", "cookie"} else loc)
        if loc and loc[0] == "body":  # the one body is a run configuration: say the allowed range of a bound
            error = {**error, "msg": error_message({**error, "loc": loc[1:]}, PostedRunConfig)}
        out.append({**error, "field": field or (loc[0] if loc else "")})
    return out


def _error_page(request: Request, status: int, message: str) -> Response:
    if _wants_html(request.scope):
        return web.render(request, "error.html", status_code=status, status=status, message=message)
    return error_response(status, message)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _wants_html(request.scope):
            messages = "; ".join(f"{e['field']}: {e['msg']}" for e in _field_errors(list(exc.errors())))
            return _error_page(request, 422, messages)
        return JSONResponse({"detail": _field_errors(list(exc.errors()))}, status_code=422)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error_page(request, 404, str(exc))

    @app.exception_handler(PostedConfigError)
    async def _posted_config(request: Request, exc: PostedConfigError) -> Response:
        return field_errors(exc.errors)

    @app.exception_handler(DatabaseError)
    async def _database(request: Request, exc: DatabaseError) -> Response:
        return _error_page(request, 503, str(exc))

    @app.exception_handler(CladeError)
    async def _conflict(request: Request, exc: CladeError) -> Response:
        return _error_page(request, 409, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401:
            return _unauthorized(request.scope)
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            # FastAPI's answer to a body it cannot even decode: one more validation error
            return field_errors([((), f"the body cannot be read as JSON ({exc.detail})")], "json_invalid")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such page: {request.url.path}"
        response = _error_page(request, exc.status_code, detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response


def create_app(settings: ServerSettings, *, archive: Archive | None = None, launcher: Launcher | None = None,
               token: str | None = None) -> FastAPI:
    """The app for `settings`. `archive` defaults to opening CLADE_HOME's;
    `launcher` (run id -> pid) replaces starting engine processes (tests)."""
    archive = archive or open_archive(settings.home)
    token = token or ensure_token(settings.home)[0]
    app = FastAPI(
        title="Clade",
        summary="Start evolution runs, browse the agent tree, export the best agent.",
        description="Every route but /healthz needs `Authorization: Bearer TOKEN` (the token is in "
                    "CLADE_HOME/api_token). Every error, whatever its status, is `{\"detail\": [{\"loc\", "
                    "\"msg\", \"type\", \"field\"}]}` (ErrorOut): a 422 lists each refused input, any other "
                    "status has one item. Lists are paged with `offset` and `limit` (events with `after`).",
        version=health._version(),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.archive = archive
    app.state.auth = TokenAuth(token)
    app.state.supervisor = RunSupervisor(archive, launcher)
    app.state.streams = events.StreamSlots(settings.sse_max_streams_per_client, settings.sse_max_streams,
                                           settings.sse_poll_threads)
    _install_error_handlers(app)

    authed = [Depends(require_auth)]
    app.include_router(health.router)
    for router in (runs.router, events.router, nodes.router, evaluations.router):
        app.include_router(router, dependencies=authed, responses=AUTH_ERRORS)
    app.include_router(web.public)
    app.include_router(web.pages, dependencies=authed)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ErrorOut, StreamEnd):  # referenced by hand-written response schemas
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(found.pop("$defs", {}))
                components[model.__name__] = found
            for operations in schema.get("paths", {}).values():  # a 422 is in the one error shape too
                for operation in operations.values():
                    refused = operation.get("responses", {}).get("422")
                    if refused is not None:
                        refused["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=authed)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    static = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in STATIC_TYPES}
    static.update({name: SWAGGER_DIR / name for name in SWAGGER_FILES})

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        path = static.get(name)  # a fixed listing made at start-up: no path from the request
        if path is None:
            raise NotFound(f"no static file {name!r}")
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix],
                        headers={"Cache-Control": "no-cache"})

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, auth=app.state.auth)  # the outermost: nothing before the token
    return app
