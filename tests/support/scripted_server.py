"""A scripted OpenAI-compatible model server, for tests and benchmarks.

Real HTTP (loopback TCP, a Unix socket, or both), the chat-completions wire
format, and replies taken from a `Script` (see `tests.support.script`): text, tool
calls, malformed tool calls, empty answers, HTTP errors, garbage, hang-ups
and delays. Every request it receives is recorded, so a test can check what
the gateway or an agent actually sent.

In a test::

    with ScriptedServer([Reply.text("hi"), Reply.tool_call("bash", {"cmd": "ls"})]) as server:
        server.base_url        # http://127.0.0.1:PORT/v1
        server.chat_requests   # the bodies received so far

As a process (e.g. to serve an agent in a sandbox over a mounted socket)::

    python -m tests.support.scripted_server --script FILE.json [--port N] [--uds PATH] [--record FILE.jsonl]

It prints one JSON line `{"tcp": URL|null, "uds": PATH|null, "base_url": URL}`
once it listens. It is built on the standard library's threading HTTP
server on purpose: nothing between the test and the socket to go wrong, and
a slow reply only holds its own thread.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from llm import wire
from tests.support.script import ChatRequest, Reply, Script, ScriptLike, as_script
from llm.uds import bind_unix_socket, unix_base_url

DEFAULT_MODELS = ("scripted",)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived (headers lower-cased, JSON body parsed if it was JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "received_at": self.received_at,
        }


class _State:
    """What the handler threads share: the script, the record, the stop flag."""

    def __init__(self, script: Script, models: tuple[str, ...], api_key: str | None, record: Path | None) -> None:
        self.script = script
        self.models = models
        self.api_key = api_key
        self.record_path = record
        self.requests: list[RecordedRequest] = []
        self.chat_count = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def record(self, request: RecordedRequest, is_chat: bool) -> int:
        with self.lock:
            self.requests.append(request)
            if self.record_path is not None:
                with self.record_path.open("a") as f:
                    f.write(json.dumps(request.to_dict()) + "\n")
            if not is_chat:
                return -1
            self.chat_count += 1
            return self.chat_count - 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server_version = "clade-scripted/1"
    state: _State  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            # Headers and body go out in two writes: without this, Nagle's
            # algorithm and delayed ACKs add ~40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    # -- plumbing ------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: Any = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, data: Any, headers: Any = ()) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _record(self, body: Any) -> int:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.time(),
        )
        return self.state.record(request, is_chat=self.path.rstrip("/").endswith("/chat/completions"))

    def _authorised(self) -> bool:
        if self.state.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.state.api_key}":
            return True
        self._send_json(
            401, wire.error_body("scripted server: wrong API key", "invalid_request_error", "invalid_api_key")
        )
        return False

    # -- routes --------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._record(None)
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            if self._authorised():
                self._send_json(200, wire.models_list(list(self.state.models), owned_by="clade-scripted"))
        elif path == "/_scripted/requests":
            with self.state.lock:
                data = [r.to_dict() for r in self.state.requests]
            self._send_json(200, data)
        elif path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._not_found()

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        index = self._record(body)
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._not_found()
            return
        if not self._authorised():
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_json(
                400, wire.error_body("the body must be a JSON object with messages", "invalid_request_error")
            )
            return
        request = ChatRequest(body=body, headers={k.lower(): v for k, v in self.headers.items()}, index=index)
        self._answer(request, self.state.script.next_reply(request))

    def _not_found(self) -> None:
        self._send_json(404, wire.error_body(f"scripted server: no route {self.path}", "invalid_request_error"))

    def _answer(self, request: ChatRequest, reply: Reply) -> None:
        if reply.delay_s and self.state.stopping.wait(reply.delay_s):
            return  # the server is stopping: drop the request
        if reply.disconnect:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if reply.raw is not None:
            self._send(reply.status, reply.raw.encode(), "text/html", reply.headers)
            return
        if reply.status != 200:
            error = reply.error or wire.error_body(f"scripted HTTP {reply.status}", "server_error")
            self._send_json(reply.status, error, reply.headers)
            return
        completion = _completion(request, reply)
        if request.body.get("stream"):
            self._stream(completion, reply, request.body.get("stream_options") or {})
        else:
            self._send_json(200, completion, reply.headers)

    def _stream(self, completion: dict[str, Any], reply: Reply, options: dict[str, Any]) -> None:
        chunks = wire.stream_chunks(completion, include_usage=bool(options.get("include_usage")))
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self._send(200, payload.encode(), "text/event-stream", reply.headers)


def _completion(request: ChatRequest, reply: Reply) -> dict[str, Any]:
    content = request.last_text if reply.echo else reply.content
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = sum(wire.rough_token_count(wire.text_of(m)) + 4 for m in request.messages)
    completion_tokens = reply.completion_tokens
    if completion_tokens is None:
        produced = (content or "") + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in reply.tool_calls
        )
        completion_tokens = wire.rough_token_count(produced)
    return wire.chat_completion(
        model=request.model or "scripted",
        content=content,
        tool_calls=list(reply.tool_calls),
        finish_reason=reply.finish_reason,
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
    )


class _TCPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung scripted reply must not hold up stop()
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        bind_unix_socket(self.socket, self.server_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)  # http.server expects a (host, port) pair


class ScriptedServer:
    """The scripted model server, in a background thread of this process.

    `port=None` (the default) listens on a free loopback port unless `uds`
    is given; pass `port=0` with `uds` to listen on both. `api_key`, when
    set, is required as a Bearer token (to check that a gateway sends it).
    """

    def __init__(
        self,
        script: ScriptLike | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        uds: str | os.PathLike[str] | None = None,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        record: str | os.PathLike[str] | None = None,
    ) -> None:
        self.script = as_script(script)
        self._state = _State(self.script, tuple(models), api_key, Path(record) if record else None)
        handler = type("_BoundHandler", (_Handler,), {"state": self._state})
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self.uds_path: Path | None = Path(uds) if uds is not None else None
        self.tcp_address: tuple[str, int] | None = None
        if port is None and uds is None:
            port = 0
        if port is not None:
            tcp = _TCPServer((host, port), handler)
            self.tcp_address = tcp.server_address[:2]  # type: ignore[assignment]
            self._servers.append(tcp)
        if self.uds_path is not None:
            self._servers.append(_UnixServer(str(self.uds_path), handler))

    # -- life cycle ----------------------------------------------------------
    def start(self) -> ScriptedServer:
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.uds_path is not None:
            self.uds_path.unlink(missing_ok=True)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ending in /v1): TCP if it listens there, else the socket's http+unix URL."""
        if self.tcp_address is not None:
            host, port = self.tcp_address
            return f"http://{host}:{port}/v1"
        assert self.uds_path is not None
        return unix_base_url(self.uds_path)

    @property
    def port(self) -> int | None:
        return self.tcp_address[1] if self.tcp_address else None

    @property
    def models(self) -> tuple[str, ...]:
        return self._state.models

    # -- what it received ----------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The bodies of the chat-completions requests, in arrival order."""
        return [
            r.body for r in self.requests if r.method == "POST" and r.path.rstrip("/").endswith("/chat/completions")
        ]

    def add(self, *replies: Any) -> None:
        """Queue more replies."""
        self.script.add(*replies)


# -- command line ------------------------------------------------------------
def _load_script(spec: str) -> tuple[ScriptLike, dict[str, Any]]:
    """FILE.json, or `module:attr` / `path/to/file.py:attr` naming a Script,
    a list of replies or a callable. Returns the script and the JSON options."""
    if spec.endswith(".json"):
        data = json.loads(Path(spec).read_text())
        options = data if isinstance(data, dict) else {}
        return Script.from_obj(data), {k: options[k] for k in ("models", "api_key") if k in options}
    target, _, attr = spec.rpartition(":")
    if not target:
        raise SystemExit(f"--script {spec!r}: give FILE.json, module:attr or file.py:attr")
    if target.endswith(".py"):
        spec_obj = importlib.util.spec_from_file_location("_clade_script", target)
        assert spec_obj and spec_obj.loader
        module = importlib.util.module_from_spec(spec_obj)
        spec_obj.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr), {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.scripted_server", description=__doc__.split("\n")[0])
    parser.add_argument("--script", required=True, help="FILE.json, module:attr or file.py:attr")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="TCP port (0: any free one)")
    parser.add_argument("--uds", default=None, help="listen on this Unix socket too (or only)")
    parser.add_argument("--record", default=None, help="append every request as a JSON line to this file")
    parser.add_argument("--model", action="append", default=None, help="model name to list (repeatable)")
    parser.add_argument("--api-key", default=None, help="require this Bearer key")
    args = parser.parse_args(argv)
    script, options = _load_script(args.script)
    models = tuple(args.model or options.get("models") or DEFAULT_MODELS)
    server = ScriptedServer(
        script,
        host=args.host,
        port=args.port,
        uds=args.uds,
        models=models,
        api_key=args.api_key or options.get("api_key"),
        record=args.record,
    ).start()
    tcp = f"http://{server.tcp_address[0]}:{server.tcp_address[1]}/v1" if server.tcp_address else None
    print(
        json.dumps({"tcp": tcp, "uds": str(server.uds_path) if server.uds_path else None, "base_url": server.base_url})
    )
    sys.stdout.flush()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
