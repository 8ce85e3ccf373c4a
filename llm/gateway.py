"""The gateway: one OpenAI-compatible endpoint for every model call.

Sandboxes reach it over a Unix socket mounted into the container (their
only way out), the platform optionally over loopback TCP. Each request
carries a per-sandbox token (`Authorization: Bearer clade-...`) that the
platform issued for a run / node / evaluation; the gateway then

1. refuses unknown tokens (401);
2. picks the backend the request's `model` names (404 if none);
3. reserves the call's worst case against the run's and the evaluation's
   budgets (429 naming the budget if it does not fit; see llm.budget);
4. forwards through litellm with retries (llm.backend), holding the keys
   itself: nothing secret ever travels to the caller;
5. settles the budget with the real usage and queues one `LLMCall` row
   (llm.accounting).

Typical use by the platform::

    gateway = Gateway(GatewayConfig(socket_path=home / "llm.sock"), repo=archive.repo).start()
    token = gateway.issue_token(run_id=run.id, node_id=node.id, evaluation_id=ev.id, purpose="solve")
    ...  # the sandbox gets CLADE_LLM_BASE_URL=gateway.sandbox_base_url("/run/clade/llm.sock"),
    ...  # CLADE_LLM_TOKEN=token, CLADE_MODEL="local"
    gateway.revoke_token(token)
    gateway.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from archive.errors import NotFound
from archive.repository import ArchiveRepository
from llm import wire
from llm.accounting import CallRecord, CallRecorder
from llm.backend import Backend, Completion, GatewayError, stop_litellm_worker
from llm.budget import BudgetExceeded, BudgetKeeper, Ledger, Usage
from llm.config import Budget, GatewayConfig
from llm.errors import GatewayConfigError
from llm.tokens import Grant, TokenRegistry
from llm.uds import tcp_listener, unix_base_url, unix_listener

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0


class Gateway:
    """The gateway service; `start()` runs it on a thread of its own."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        repo: ArchiveRepository | None = None,
        tokens: TokenRegistry | None = None,
    ) -> None:
        self.config = config or GatewayConfig()
        self.repo = repo
        self.tokens = tokens or TokenRegistry()
        self.backends = {b.name: Backend(b) for b in self.config.backends}
        self.budgets = BudgetKeeper()
        self.recorder = CallRecorder(repo)
        self._limits: dict[tuple[str, int], Budget] = {}
        self._limits_lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: list[socket.socket] = []
        self.tcp_address: tuple[str, int] | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )

    # -- tokens and budgets (any thread) ---------------------------------------
    def issue_token(
        self,
        *,
        run_id: int | None = None,
        node_id: int | None = None,
        evaluation_id: int | None = None,
        purpose: str | None = None,
    ) -> str:
        """A new token whose calls are accounted to these ids."""
        return self.tokens.issue(run_id=run_id, node_id=node_id, evaluation_id=evaluation_id, purpose=purpose)

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

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every call answered so far has its row in the archive."""
        self.recorder.flush(timeout)

    # -- life cycle -------------------------------------------------------------
    def start(self) -> Gateway:
        if self._thread is not None:
            return self
        cfg = self.config
        if cfg.socket_path is None and cfg.tcp_port is None:
            raise GatewayConfigError(
                "the gateway has nowhere to listen: set socket_path (for sandboxes) and/or tcp_port (0: any free port)"
            )
        try:
            if cfg.socket_path is not None:
                self._sockets.append(unix_listener(cfg.socket_path))
            if cfg.tcp_port is not None:
                tcp = tcp_listener(cfg.tcp_host, cfg.tcp_port)
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
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=600,
                timeout_graceful_shutdown=5,  # stop() must not wait for a slow backend
                limit_concurrency=None,
                backlog=512,
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
            await stop_litellm_worker()

    def stop(self) -> None:
        """Stop listening, let calls in flight finish briefly, write the last rows."""
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
            self._grant(request)
        except GatewayError as error:
            return _error_response(error)
        return JSONResponse(wire.models_list(list(self.backends), owned_by="clade-gateway"))

    async def _chat(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            grant = self._grant(request)
            body = await _json_body(request)
            backend = self._backend(body)
            need = backend.worst_case(body, self.config.completion_reserve_tokens)
            ledgers = await self._ledgers(grant)
            try:
                reservation = await self.budgets.reserve(ledgers, need)
            except BudgetExceeded as exc:
                # x-should-retry: the openai SDK would otherwise retry a 429.
                raise GatewayError(
                    429, str(exc), "insufficient_quota", "budget_exceeded", {"x-should-retry": "false"}
                ) from None
        except GatewayError as error:
            return _error_response(error)

        completion: Completion | None = None
        error: GatewayError | None = None
        try:
            completion = await backend.complete(body)
            return JSONResponse(completion.body)
        except GatewayError as exc:
            error = exc
            return _error_response(exc)
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

    def _grant(self, request: Request) -> Grant:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        grant = self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise GatewayError(
                401,
                "missing or unknown gateway token: send the CLADE_LLM_TOKEN your sandbox was given as "
                "'Authorization: Bearer <token>' (tokens die with their sandbox)",
                "invalid_request_error",
                "invalid_api_key",
            )
        return grant

    def _backend(self, body: dict[str, Any]) -> Backend:
        name = body.get("model")
        config = self.config.backend(name if isinstance(name, str) else None)
        if config is None:
            raise GatewayError(
                404,
                f"the gateway serves no model {name!r}: use one of {sorted(self.backends)} (CLADE_MODEL)",
                "invalid_request_error",
                "model_not_found",
            )
        if body.get("stream"):
            raise GatewayError(
                400,
                'the Clade gateway does not stream: send "stream": false',
                "invalid_request_error",
                "stream_unsupported",
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


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise GatewayError(
            400, "the request body is not JSON: send a chat-completions request", "invalid_request_error"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise GatewayError(
            400, "a chat-completions request needs a non-empty 'messages' list", "invalid_request_error", "invalid_body"
        )
    return body


def _error_response(error: GatewayError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
