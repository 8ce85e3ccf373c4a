"""The gateway: one OpenAI-compatible endpoint for every model call.

Sandboxes reach it over a Unix socket mounted into the container (their
only way out), the platform optionally over loopback TCP. Each request
carries a per-sandbox token (`Authorization: Bearer clade-...`) that the
platform issued for a run / node / evaluation; the gateway then

1. refuses unknown tokens (401, counted), a token's requests beyond
   `max_requests_per_token` (429), bodies over `max_body_bytes` (413) and
   anything that is not a well-formed chat request (400; llm.validate);
2. picks the backend the request's `model` names, which must be the
   token's own when it was issued for one (403 otherwise; 404 if none);
3. reserves the call's worst case against the run's and the evaluation's
   budgets (429 naming the budget if it does not fit; see llm.budget);
4. forwards through litellm with retries (llm.backend), holding the keys
   itself: nothing secret ever travels to the caller;
5. settles the budget with the real usage and queues one `LLMCall` row
   (llm.accounting).

Typical use by the platform::

    gateway = Gateway(GatewayConfig(socket_path=home / "llm.sock"), repo=archive.repo).start()
    token = gateway.issue_token(run_id=run.id, node_id=node.id, evaluation_id=ev.id, purpose="solve", model="local")
    ...  # the sandbox gets CLADE_LLM_BASE_URL=gateway.sandbox_base_url("/run/clade/llm.sock"),
    ...  # CLADE_LLM_TOKEN=token, CLADE_MODEL="local"
    gateway.revoke_token(token)
    gateway.stop()

Connections are bounded too (llm.connections): per listener, per
connecting process on the socket, and in time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from collections import Counter, OrderedDict
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from archive.errors import NotFound
from archive.repository import ArchiveRepository
from llm import wire
from llm.accounting import CallRecord, CallRecorder
from llm.backend import Backend, Completion, GatewayError, forwarded_bytes, stop_litellm_worker
from llm.budget import BudgetExceeded, BudgetKeeper, Ledger, Usage
from llm.config import Budget, GatewayConfig
from llm.connections import ConnectionGuard, ConnectionLimits, GuardedProtocol
from llm.errors import GatewayConfigError
from llm.tokens import Grant, TokenRegistry
from llm.uds import tcp_listener, unix_base_url, unix_listener
from llm.validate import Limits, check_request, completion_limit, parse_body

log = logging.getLogger(__name__)


class _QuietShutdown(logging.Filter):
    """Drops uvicorn's "Cancel N running task(s)" error: the gateway says which calls
    its shutdown cut short itself (a warning each), and a run that ended cleanly
    must not read as one that failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running task(s), timeout graceful shutdown exceeded" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietShutdown())

START_TIMEOUT_S = 30.0
# Bodies larger than this are parsed and checked on a worker thread, so the
# event loop keeps answering everyone else meanwhile.
PARSE_INLINE_BYTES = 256 * 1024
# Distinct refused tokens logged (once each); beyond, refusals are only counted.
LOG_REFUSED_TOKENS = 10_000


class Gateway:
    """The gateway service; `start()` runs it on a thread of its own."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        repo: ArchiveRepository | None = None,
        tokens: TokenRegistry | None = None,
        spool: Path | None = None,
    ) -> None:
        self.config = config or GatewayConfig()
        self.repo = repo
        self.tokens = tokens or TokenRegistry()
        self.backends = {b.name: Backend(b) for b in self.config.backends}
        self.budgets = BudgetKeeper()
        self.recorder = CallRecorder(repo, spool)  # spool: the calls survive a kill (llm.accounting)
        self._limits: dict[tuple[str, int], Budget] = {}
        self._limits_lock = threading.Lock()
        cfg = self.config
        self._request_limits = Limits(cfg.max_json_depth, cfg.max_completion_tokens, cfg.max_choices)
        self._refused: Counter[str] = Counter()
        self._in_flight: dict[str, int] = {}
        self._noted_tokens: OrderedDict[str, None] = OrderedDict()
        self._guard: ConnectionGuard | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False  # stop() was called: a call cancelled now was cut short by the shutdown
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: list[socket.socket] = []
        self.tcp_address: tuple[str, int] | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ],
            exception_handlers={HTTPException: _http_exception},  # 404/405 in OpenAI's shape too
        )

    # -- tokens and budgets (any thread) ---------------------------------------
    def issue_token(
        self,
        *,
        run_id: int | None = None,
        node_id: int | None = None,
        evaluation_id: int | None = None,
        purpose: str | None = None,
        model: str | None = None,
    ) -> str:
        """A new token whose calls are accounted to these ids, for the one
        gateway model name `model` (what its role may use; the platform
        always passes it). None: any served model (older callers)."""
        if model is not None and model not in self.backends:
            raise GatewayConfigError(
                f"the gateway serves no model {model!r}: issue the token for one of {sorted(self.backends)}"
            )
        return self.tokens.issue(
            run_id=run_id, node_id=node_id, evaluation_id=evaluation_id, purpose=purpose, model=model
        )

    def revoke_token(self, token: str) -> bool:
        return self.tokens.revoke(token)

    def set_run_budget(self, run_id: int, budget: Budget) -> None:
        self._set_limit("run", run_id, budget)

    def set_evaluation_budget(self, evaluation_id: int, budget: Budget) -> None:
        self._set_limit("evaluation", evaluation_id, budget)

    def _set_limit(self, kind: str, key: int, budget: Budget) -> None:
        with self._limits_lock:
            self._limits[(kind, key)] = budget
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.budgets.set_limit, kind, key, budget)
        else:
            self.budgets.set_limit(kind, key, budget)

    def _limit(self, kind: str, key: int) -> Budget:
        with self._limits_lock:
            found = self._limits.get((kind, key))
        if found is not None:
            return found
        return self.config.run_budget if kind == "run" else self.config.evaluation_budget

    def spent(self, kind: str, key: int) -> Usage | None:
        """What this gateway has counted for a run or an evaluation (None: no call yet)."""
        ledger = self.budgets.ledger(kind, key)
        return None if ledger is None else Usage(ledger.spent.calls, ledger.spent.tokens, ledger.spent.usd)

    @property
    def refused_calls(self) -> dict[str, int]:
        """Requests and connections the gateway refused, by reason: token_missing,
        token_unknown, token_revoked, too_many_requests, body_too_large, invalid_body,
        model_not_allowed, model_not_found, budget_exceeded, ..., and at the
        connection level connection_limit, peer_connection_limit,
        connection_evicted, request_timeout, headers_too_large, bad_http."""
        return dict(self._refused)

    @property
    def connections(self) -> dict[str, int]:
        """Open connections now, per listener: {"socket": n, "tcp": n}."""
        return dict(self._guard.open) if self._guard is not None else {"socket": 0, "tcp": 0}

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every call answered so far has its row in the archive."""
        self.recorder.flush(timeout)

    # -- life cycle -------------------------------------------------------------
    def start(self) -> Gateway:
        if self._thread is not None:
            return self
        self._stopping = False
        cfg = self.config
        if cfg.socket_path is None and cfg.tcp_port is None:
            raise GatewayConfigError(
                "the gateway has nowhere to listen: set socket_path (for sandboxes) and/or tcp_port (0: any free port)"
            )
        try:
            if cfg.socket_path is not None:
                self._sockets.append(unix_listener(cfg.socket_path, cfg.listen_backlog))
            if cfg.tcp_port is not None:
                tcp = tcp_listener(cfg.tcp_host, cfg.tcp_port, cfg.listen_backlog)
                self.tcp_address = tcp.getsockname()[:2]
                self._sockets.append(tcp)
        except OSError as exc:
            self._close_sockets()
            raise GatewayConfigError(
                f"the gateway cannot listen ({exc.strerror or exc}): choose another socket path or port"
            ) from None
        self.recorder.start()
        for backend in self.backends.values():
            backend.reset()
        self._in_flight.clear()
        self._guard = ConnectionGuard(
            ConnectionLimits(
                max_connections=cfg.max_connections,
                max_connections_per_peer=cfg.max_connections_per_peer,
                max_tcp_connections=cfg.max_tcp_connections,
                request_timeout_s=cfg.request_timeout_s,
                max_header_bytes=cfg.max_header_bytes,
            ),
            self._refused,
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                http=GuardedProtocol.for_guard(self._guard),  # type: ignore[arg-type]
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=cfg.keep_alive_s,  # type: ignore[arg-type]
                timeout_graceful_shutdown=5,  # stop() must not wait for a slow backend
                limit_concurrency=None,  # the guard's caps instead: uvicorn's would 503 everyone once idle
                backlog=cfg.listen_backlog,  # a burst waits in the kernel, not in the gateway's file descriptors
            )
        )
        self._thread = threading.Thread(target=self._serve, name="clade-llm-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise GatewayConfigError("the gateway did not start: see the log above for the reason")
        return self

    def _serve(self) -> None:
        # A Runner cancels whatever tasks are left (litellm's logging worker)
        # before it closes the loop, so nothing complains about a closed loop.
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            self._loop = runner.get_loop()
            runner.run(self._serve_until_stopped())

    async def _serve_until_stopped(self) -> None:
        assert self._server is not None
        try:
            await self._server.serve(sockets=self._sockets)
        finally:
            for backend in self.backends.values():
                await backend.close()
            await stop_litellm_worker()

    def stop(self) -> None:
        """Stop listening, let calls in flight finish briefly, write the last rows."""
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None
        self._server = None
        self._loop = None
        self._close_sockets()
        self.recorder.stop()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self.config.socket_path is not None:
            self.config.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Loopback TCP base URL if it listens there, else the socket's http+unix URL."""
        if self.tcp_address is not None:
            return f"http://{self.tcp_address[0]}:{self.tcp_address[1]}/v1"
        if self.config.socket_path is None:
            raise GatewayConfigError("the gateway listens nowhere: set socket_path or tcp_port")
        return unix_base_url(self.config.socket_path)

    def sandbox_base_url(self, mount_path: str = "/run/clade/llm.sock") -> str:
        """CLADE_LLM_BASE_URL for a container that has the socket mounted at `mount_path`."""
        return unix_base_url(mount_path)

    # -- HTTP -------------------------------------------------------------------
    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _models(self, request: Request) -> Response:
        try:
            grant = self._grant(request)
        except GatewayError as error:
            return self._refuse(error)
        except Exception as exc:  # noqa: BLE001 - a bug of ours: a JSON 500, one log line
            return _internal_error(request, exc)
        names = [grant.model] if grant.model is not None else list(self.backends)
        return JSONResponse(wire.models_list(names, owned_by="clade-gateway"))

    async def _chat(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            grant = self._grant(request)
        except GatewayError as error:
            return self._refuse(error, close=_large_unread_body(request))
        token, cap = grant.token, self.config.max_requests_per_token
        if self._in_flight.get(token, 0) >= cap:
            return self._refuse(
                GatewayError(
                    429,
                    f"this token already has {cap} requests in the gateway (its limit): wait for an answer "
                    "before the next call",
                    "rate_limit_error",
                    "too_many_requests",
                    {"retry-after": "1"},
                ),
                close=_large_unread_body(request),
            )
        self._in_flight[token] = self._in_flight.get(token, 0) + 1
        try:
            return await self._serve_chat(request, grant, started)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        except Exception as exc:  # noqa: BLE001 - a bug of ours: a JSON 500, one log line
            return _internal_error(request, exc)
        finally:
            left = self._in_flight.get(token, 1) - 1
            if left > 0:
                self._in_flight[token] = left
            else:
                self._in_flight.pop(token, None)

    async def _serve_chat(self, request: Request, grant: Grant, started: float) -> Response:
        cfg = self.config
        try:
            raw = await self._read_body(request)
        except GatewayError as error:
            return self._refuse(error, close=True)  # the rest of the body is not read: close
        try:
            body, size = await self._parse(raw)
            del raw
            # A streamed request is asked of the backend whole and answered as one
            # completion in chunks: the budget settles on a finished call, never on half of one.
            streamed = bool(body.pop("stream", False))
            include_usage = bool((body.pop("stream_options", None) or {}).get("include_usage"))
            backend = self._backend(body, grant)
            ledgers = await self._ledgers(grant)
            if completion_limit(body) is None and any(
                lg.limit.tokens is not None or lg.limit.usd is not None for lg in ledgers
            ):
                # Under a token or USD budget a call may not write past its reservation.
                body = {**body, "max_tokens": cfg.completion_reserve_tokens}
                size += len(f', "max_tokens": {cfg.completion_reserve_tokens}')
            need = backend.worst_case(body, cfg.completion_reserve_tokens, size)
            try:
                reservation = await self.budgets.reserve(ledgers, need)
            except BudgetExceeded as exc:
                # x-should-retry: the openai SDK would otherwise retry a 429.
                raise GatewayError(
                    429, str(exc), "insufficient_quota", "budget_exceeded", {"x-should-retry": "false"}
                ) from None
        except GatewayError as error:
            return self._refuse(error)

        completion: Completion | None = None
        error: GatewayError | None = None
        try:
            completion = await backend.complete(body)
            if streamed:
                return _event_stream(completion.body, include_usage)
            return JSONResponse(completion.body)
        except GatewayError as exc:
            error = exc
            return _error_response(exc)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # uvicorn cancels what is still running once stop()'s grace is over: the
            # caller gets an answer that says so and the archive a row, not a traceback.
            log.warning("gateway: stopped while a %s call of run %s was in flight: answered 503 gateway_stopped",
                        grant.purpose, grant.run_id)
            error = GatewayError(503, "the gateway stopped while this call was in flight (its run or evaluation "
                                 "ended): nothing to retry here", "server_error", "gateway_stopped")
            return _error_response(error)
        finally:
            # Runs even if the caller went away mid-call: the budget and the
            # archive must see every call that reached a backend.
            used = Usage(calls=1)
            if completion is not None:
                used.tokens = completion.prompt_tokens + completion.completion_tokens
                used.usd = completion.cost_usd
            self.budgets.settle(reservation, used)
            self.recorder.record(
                CallRecord(
                    model=backend.config.model,
                    run_id=grant.run_id,
                    node_id=grant.node_id,
                    evaluation_id=grant.evaluation_id,
                    purpose=grant.purpose,
                    prompt_tokens=completion.prompt_tokens if completion else 0,
                    completion_tokens=completion.completion_tokens if completion else 0,
                    cost_usd=used.usd,
                    latency_s=time.perf_counter() - started,
                    error=str(error) if error else None,
                )
            )

    async def _read_body(self, request: Request) -> bytearray:
        """The body, reading at most max_body_bytes (+ one chunk) of it: 413 beyond."""
        cap = self.config.max_body_bytes
        too_large = GatewayError(
            413,
            f"the request body is larger than the gateway's limit of {cap} bytes: shorten the conversation "
            "(drop or summarise old tool output) or send fewer tools",
            "invalid_request_error",
            "body_too_large",
        )
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise GatewayError(400, "the Content-Length header is not a number", "invalid_request_error",
                                   "invalid_body")  # fmt: skip
            if int(declared) > cap:
                raise too_large
        raw = bytearray()
        async for chunk in request.stream():
            if len(raw) + len(chunk) > cap:
                raise too_large
            raw += chunk
        return raw

    async def _parse(self, raw: bytearray) -> tuple[dict[str, Any], int]:
        """The checked request and the byte count of what it forwards."""
        if len(raw) > PARSE_INLINE_BYTES:
            return await asyncio.to_thread(self._parse_now, raw)
        return self._parse_now(raw)

    def _parse_now(self, raw: bytearray) -> tuple[dict[str, Any], int]:
        body = parse_body(raw, self._request_limits)
        check_request(body, self._request_limits)
        return body, forwarded_bytes(body)

    def _refuse(self, error: GatewayError, *, close: bool = False) -> Response:
        """Count a refusal (by its code) and answer it (OpenAI's error shape)."""
        if not isinstance(error, _Refused):
            self._refused[error.code or error.type] += 1
        log.debug("refused a request: %s", error)
        response = _error_response(error)
        if close:
            response.headers["connection"] = "close"
        return response

    def _grant(self, request: Request) -> Grant:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        grant = self.tokens.lookup(token) if scheme.lower() == "bearer" and token else None
        if grant is not None:
            return grant
        message = ("missing or unknown gateway token: send the CLADE_LLM_TOKEN your sandbox was given as "
                   "'Authorization: Bearer <token>' (tokens die with their sandbox)")  # fmt: skip
        if not token:
            reason = "token_missing"
        else:
            ended = self.tokens.revoked(token)
            reason = "token_revoked" if ended is not None else "token_unknown"
            if ended is not None:
                message = ("this gateway token has been revoked (its sandbox or task has ended): no more calls "
                           "are accounted to it; a new task gets a new CLADE_LLM_TOKEN")  # fmt: skip
            self._note_refused_token(token, ended)
        self._refused[reason] += 1
        raise _Refused(401, message, "invalid_request_error", "invalid_api_key")

    def _note_refused_token(self, token: str, grant: Grant | None) -> None:
        """Log the first refused call of each token (INFO); later ones are only counted."""
        fingerprint = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]
        if fingerprint in self._noted_tokens or len(self._noted_tokens) >= LOG_REFUSED_TOKENS:
            return
        self._noted_tokens[fingerprint] = None
        if grant is not None:
            log.info("refused a call with a revoked token (%s; token #%s): refusals are counted in "
                     "refused_calls['token_revoked'], this one token is logged once", grant.describe(),
                     fingerprint)  # fmt: skip
        else:
            log.info("refused a call with an unknown token (#%s): counted in refused_calls['token_unknown'], "
                     "logged once per token", fingerprint)  # fmt: skip
        if len(self._noted_tokens) == LOG_REFUSED_TOKENS:
            log.info("%d refused tokens logged: further ones are only counted", LOG_REFUSED_TOKENS)

    def _backend(self, body: dict[str, Any], grant: Grant) -> Backend:
        name = body.get("model") or None  # checked: a string or absent
        if grant.model is not None:
            if name is not None and name != grant.model:
                raise GatewayError(
                    403,
                    f"this token may only use model {grant.model!r}, not {_short(name)}: send \"model\": "
                    f"{grant.model!r} (CLADE_MODEL) or leave it out",
                    "invalid_request_error",
                    "model_not_allowed",
                    param="model",
                )
            name = grant.model
        config = self.config.backend(name)
        if config is None:
            raise GatewayError(
                404,
                f"the gateway serves no model {_short(name)}: use one of {sorted(self.backends)} (CLADE_MODEL)",
                "invalid_request_error",
                "model_not_found",
                param="model",
            )
        return self.backends[config.name]

    async def _ledgers(self, grant: Grant) -> list[Ledger]:
        ledgers = []
        if grant.run_id is not None:
            ledger = self.budgets.ledger("run", grant.run_id)
            if ledger is None:
                spent = await self._run_spent(grant.run_id)
                ledger = self.budgets.open("run", grant.run_id, self._limit("run", grant.run_id), spent)
            ledgers.append(ledger)
        if grant.evaluation_id is not None:
            key = grant.evaluation_id
            ledgers.append(self.budgets.open("evaluation", key, self._limit("evaluation", key)))
        return ledgers

    async def _run_spent(self, run_id: int) -> Usage:
        """What the archive says the run has spent (earlier gateways, a resumed run)."""
        if self.repo is None:
            return Usage()
        try:
            run = await asyncio.to_thread(self.repo.get_run, run_id)
        except NotFound:
            raise GatewayError(
                403, f"this token is for run {run_id}, which the archive does not hold: ask the platform for a new one",
                "invalid_request_error", "unknown_run",
            ) from None  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the database is down or broken
            log.exception("cannot read run %s from the archive", run_id)
            raise GatewayError(
                503,
                f"the gateway cannot read run {run_id}'s spend from the archive ({type(exc).__name__}): "
                "check the archive database, then call again",
                code="archive_unavailable",
            ) from None
        return Usage(run.llm_calls_count, run.prompt_tokens + run.completion_tokens, run.cost_usd)


def _loop_factory() -> Any:
    """uvloop when it is installed (a faster event loop), else asyncio's own.
    CLADE_GATEWAY_LOOP=asyncio forces the latter (for comparisons)."""
    if os.environ.get("CLADE_GATEWAY_LOOP") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


# An answer given before the body is read leaves the connection open when the
# body is small (uvicorn discards it; a client that writes headers and body
# separately, like http.client, still reads the answer), and closes it when
# the body is large or of unknown length (not worth reading to discard).
DISCARD_BODY_BYTES = 64 * 1024


def _short(text: str | None, limit: int = 60) -> str:
    """A caller's string, quoted and cut short, for a message that echoes it."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _large_unread_body(request: Request) -> bool:
    declared = request.headers.get("content-length", "").strip()
    return not declared.isdigit() or int(declared) > DISCARD_BODY_BYTES


class _Refused(GatewayError):
    """A 401 already counted (by reason) where it was raised."""


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 in OpenAI's error shape."""
    status = getattr(exc, "status_code", 404)
    what = "no such endpoint" if status == 404 else "method not allowed here"
    return JSONResponse(
        wire.error_body(f"{what}: {request.method} {request.url.path}; the gateway serves POST /v1/chat/completions "
                        "and GET /v1/models", "invalid_request_error", "not_found" if status == 404 else
                        "method_not_allowed"),
        status_code=status,
    )  # fmt: skip


def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug of the gateway's: one log line (the traceback at DEBUG), a JSON 500 for the caller."""
    log.error("gateway: %s %s failed inside the gateway: %s: %s", request.method, request.url.path,
              type(exc).__name__, str(exc)[:500], exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
    return JSONResponse(
        wire.error_body("the gateway failed to handle this request (its log says why): retry once, then report it",
                        "server_error", "internal_error"),
        status_code=500,
    )  # fmt: skip


def _event_stream(completion: dict[str, Any], include_usage: bool) -> Response:
    """A finished completion as the server-sent events a streaming OpenAI client reads."""
    events = "".join(f"data: {json.dumps(c)}\n\n" for c in wire.stream_chunks(completion, include_usage=include_usage))
    return Response(events + "data: [DONE]\n\n", media_type="text/event-stream",
                    headers={"cache-control": "no-cache"})


def _error_response(error: GatewayError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
