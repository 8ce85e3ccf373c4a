"""The gateway against a hostile sandbox: what an agent inside one could try
over the real Unix socket, and what the host keeps (budgets, secrets, a
clean log, a gateway that answers everyone else)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from archive import Archive
from llm.config import Budget
from llm.errors import GatewayConfigError
from llm.gateway import Gateway
from tests.llm.conftest import GatewayFactory, ask, caller, scripted_backend
from tests.support.script import ChatRequest, Reply, Script
from tests.support.scripted_server import ScriptedServer

FIXED = Reply.text("ok", prompt_tokens=10, completion_tokens=5)
# Sockets one flooding process opens: a few thousand, which a 2-core machine handles in about a second.
FLOOD = 2000
ROOT = Path(__file__).resolve().parents[2]


def clean_refusal(response: httpx.Response, status: int, server: ScriptedServer, code: str | None = None) -> str:
    """The refusal is `status` with an OpenAI-style JSON error that names no backend address; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] in ("invalid_request_error", "rate_limit_error", "server_error", "insufficient_quota")
    assert error["message"] and len(error["message"]) < 2000
    if code is not None:
        assert error["code"] == code, error
    seen = response.text + json.dumps(dict(response.headers))
    for secret in (server.base_url, f"127.0.0.1:{server.port}", f":{server.port}/", "127.0.0.1", "sk-"):
        assert secret not in seen, f"{secret!r} leaked in {seen}"
    return str(error["message"])


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.WARNING]


def raw_exchange(path: Path, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes over the gateway's socket; what comes back until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def raw_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# -- 1. every request is checked at the door -------------------------------------------
def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"max_tokens": -1_000_000_000}, "max_tokens"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": "16"}, "max_tokens"),
    ({"max_tokens": [16]}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": 10**12}, "max_tokens"),
    ({"max_completion_tokens": -5}, "max_completion_tokens"),
    ({"n": 1000}, "n"),
    ({"n": 0}, "n"),
    ({"n": "2"}, "n"),
    ({"best_of": 50}, "best_of"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": [0.5]}, "temperature"),
    ({"temperature": 7.0}, "temperature"),
    ({"top_p": -0.1}, "top_p"),
    ({"presence_penalty": {"a": 1}}, "presence_penalty"),
    ({"tools": {"name": "bash"}}, "tools"),
    ({"tools": ["bash"]}, "tools"),
    ({"functions": "bash"}, "functions"),
    ({"stop": [1, 2]}, "stop"),
    ({"logit_bias": {"50256": "-inf"}}, "logit_bias"),
    ({"stream": "yes"}, "stream"),
    ({"messages": []}, "messages"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [1, 2]}, "messages"),
    ({"messages": [{"role": 5, "content": "x"}]}, "messages"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": "ls"}]}, "messages"),
    ({"model": ["m"]}, "model"),
    ({"extra": nested(70)}, "deeper than"),  # under the interpreter's own limit, over the gateway's (64)
]
RAW_BODIES: list[tuple[bytes, str]] = [
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}', "NaN"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": Infinity}', "NaN or Infinity"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 1e999}', "too large"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -Infinity}', "JSON"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}', "surrogate"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "JSON"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "deeper than"),
    (b'[{"role": "user", "content": "x"}]', "not an object"),
    (b"{not json", "not valid JSON"),
    (b"", "not valid JSON"),
]


def test_hostile_bodies_get_clear_400s_and_never_reach_the_model(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server))
        with caller(gateway, gateway.issue_token(run_id=1, model="m")) as client:
            for fields, hint in HOSTILE_FIELDS:
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
                message = clean_refusal(client.post("/chat/completions", json=body), 400, server)
                assert hint in message, (fields, message)
                if hint != "deeper than":
                    assert response_param(client, body) == hint
            for raw, hint in RAW_BODIES:
                response = client.post("/chat/completions", content=raw, headers={"content-type": "application/json"})
                assert hint in clean_refusal(response, 400, server), (raw[:80], response.text)
            fine = ask(client, max_tokens=16, n=2, temperature=0.2, top_p=0.9, stop=["\n"], top_k=3)
            assert fine.status_code == 200, fine.text
        not_found = httpx.Client(transport=httpx.HTTPTransport(uds=str(gateway.config.socket_path)))
        with not_found:
            clean_refusal(not_found.get("http://gw/v2/nothing"), 404, server, "not_found")
            clean_refusal(not_found.get("http://gw/v1/chat/completions"), 405, server, "method_not_allowed")
    assert len(server.chat_requests) == 1  # only the well-formed call reached the model
    assert gateway.refused_calls["invalid_body"] == len(HOSTILE_FIELDS) + len(HOSTILE_FIELDS) - 1 + len(RAW_BODIES)
    assert gateway.spent("run", 1).calls == 1
    no_tracebacks(caplog)


def response_param(client: httpx.Client, body: dict[str, Any]) -> str | None:
    return client.post("/chat/completions", json=body).json()["error"]["param"]


def test_oversized_bodies_get_413_without_being_read(
    gateway_factory: GatewayFactory, short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cap = 256 * 1024
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), max_body_bytes=cap)
        token = gateway.issue_token(model="m")
        with caller(gateway, token) as client:
            declared = ask(client, "x" * (cap + 10))  # Content-Length says it all: refused before reading
            message = clean_refusal(declared, 413, server, "body_too_large")
            assert f"{cap} bytes" in message and declared.headers["connection"] == "close"
            assert ask(client, "x" * (cap // 2)).status_code == 200

        # A chunked body that never ends: the gateway answers 413 once it has read past the cap, and closes.
        path = gateway.config.socket_path
        assert path is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer " + token.encode()
                         + b"\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")  # fmt: skip
            chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
            sent = 0
            try:
                while sent < 64 * cap:
                    sock.sendall(chunk)
                    sent += 65536
            except OSError:
                pass  # the gateway closed its end: what it wrote before is still to be read
            answer = b""
            try:
                while part := sock.recv(65536):
                    answer += part
            except OSError:
                pass
        assert sent < 64 * cap, "the gateway kept reading an endless body"
        status, body = raw_json(answer)
        assert status == 413 and body["error"]["code"] == "body_too_large"
    assert len(server.chat_requests) == 1
    assert gateway.refused_calls["body_too_large"] == 2
    no_tracebacks(caplog)


def test_bad_http_and_huge_headers_are_refused_quietly(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), max_header_bytes=8192)
        path = gateway.config.socket_path
        assert path is not None
        status, body = raw_json(raw_exchange(path, b"\x16\x03\x01 this is not HTTP\r\n\r\n"))
        assert status == 400 and body["error"]["code"] == "bad_http"
        big = b"GET /v1/models HTTP/1.1\r\nhost: gw\r\n" + b"x-pad: " + b"a" * 20000 + b"\r\n\r\n"
        status, body = raw_json(raw_exchange(path, big))
        assert status == 431 and body["error"]["code"] == "headers_too_large"
        with caller(gateway, gateway.issue_token()) as client:
            assert ask(client).status_code == 200
    assert gateway.refused_calls["bad_http"] == 1 and gateway.refused_calls["headers_too_large"] == 1
    no_tracebacks(caplog)


def test_backend_failures_never_show_the_backend_url_or_key(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("CLADE_TEST_HOSTILE_KEY", "sk-hostile-secret")
    down = ScriptedServer(Script(default=FIXED)).start()
    down_backend = scripted_backend(down, name="down", max_retries=0)
    down.stop()

    def responder(request: ChatRequest) -> Reply:
        quoted = f"bad request for {request.headers.get('host')} at http://{request.headers.get('host')}/v1 "
        if request.last_text == "quote":  # a backend that quotes where it runs and the key it got
            return Reply.http_error(400, quoted + request.headers.get("authorization", ""), "invalid_request_error")
        if request.last_text == "crash":
            return Reply.http_error(500, quoted, "server_error")
        return Reply.garbage(f"<html>proxy error at {request.headers.get('host')}</html>")

    with ScriptedServer(responder, api_key="sk-hostile-secret") as server:
        backend = scripted_backend(server, api_key_env="CLADE_TEST_HOSTILE_KEY", max_retries=0)
        gateway = gateway_factory(backend, down_backend)
        with caller(gateway, gateway.issue_token()) as client:
            quoted = ask(client, "quote")
            crashed = ask(client, "crash")
            garbage = ask(client, "garbage")
            unreachable = ask(client, model="down")
    for response, status in ((quoted, 400), (crashed, 502), (garbage, 502), (unreachable, 503)):
        message = clean_refusal(response, status, server)
        assert f":{down.port}" not in message and "hostile-secret" not in message
        assert "backend 'm'" in message or "backend 'down'" in message
    assert "[backend]" in quoted.json()["error"]["message"]
    no_tracebacks(caplog)


# -- 2. budgets hold on validated numbers, counting everything forwarded -----------------
def worst_honest_backend(request: ChatRequest) -> Reply:
    """A model that bills a token for every byte it was sent and writes all it may."""
    sent = {k: v for k, v in request.body.items() if k not in ("model", "stream")}
    limit = request.body.get("max_tokens") or request.body.get("max_completion_tokens") or 2000
    return Reply.text("ok", prompt_tokens=len(json.dumps(sent, separators=(",", ":"))),
                      completion_tokens=int(limit) * int(request.body.get("n") or 1), delay_s=0.05)  # fmt: skip


def test_budget_is_never_exceeded_by_hostile_numbers_or_fields(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("hostile-budget", {})
    budget = 20_000
    functions = [{"name": f"f{i}", "description": "d" * 180, "parameters": {"type": "object"}} for i in range(1000)]
    assert len(json.dumps(functions)) > 200_000
    attacks: list[dict[str, Any]] = [
        {"max_tokens": -1_000_000_000},  # was: a negative reservation that let the others fit
        {"functions": functions, "max_tokens": 16},  # was: 50 036 tokens spent against 20 000
        {"padding": "p" * 30_000, "max_tokens": 16},  # an unknown field is forwarded, so it is counted
        {"n": 4, "max_tokens": 1500},
        {"max_completion_tokens": 1, "max_tokens": 3000},  # the larger one is what a backend may honour
        {},  # no max_tokens: forwarded with completion_reserve_tokens under a token budget
        {"max_tokens": 700, "tools": [{"type": "function", "function": {"name": "bash"}}]},
    ]
    with ScriptedServer(worst_honest_backend) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo, run_budget=Budget(tokens=budget))
        token = gateway.issue_token(run_id=run.id, purpose="solve", model="m")
        codes: list[int] = []
        lock = threading.Lock()

        def attacker(index: int) -> None:
            with caller(gateway, token) as client:
                for round_ in range(4):
                    attack = attacks[(index + round_) % len(attacks)]
                    response = ask(client, "go", **attack)
                    with lock:
                        codes.append(response.status_code)

        threads = [threading.Thread(target=attacker, args=(i,)) for i in range(len(attacks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gateway.flush()
        received = server.chat_requests
    spent = gateway.spent("run", run.id)
    stored = archive.repo.get_run(run.id)
    assert spent is not None and 0 < spent.tokens <= budget
    assert stored.prompt_tokens + stored.completion_tokens == spent.tokens <= budget
    assert codes.count(200) == len(received) > 1 and 400 in codes and 429 in codes
    assert set(codes) <= {200, 400, 429}
    assert not any("functions" in body for body in received)  # it can never fit: refused, not forwarded
    assert all(isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0 for body in received)
    assert any(body["max_tokens"] == gateway.config.completion_reserve_tokens for body in received)
    assert gateway.refused_calls["budget_exceeded"] >= 1 and gateway.refused_calls["invalid_body"] >= 1


def test_a_call_that_cannot_fit_alone_is_refused_at_once(gateway_factory: GatewayFactory) -> None:
    with ScriptedServer(worst_honest_backend) as server:
        gateway = gateway_factory(scripted_backend(server), run_budget=Budget(tokens=5_000))
        with caller(gateway, gateway.issue_token(run_id=7, model="m")) as client:
            huge = ask(client, "x" * 6_000, max_tokens=10)
            fits = ask(client, "y" * 100, max_tokens=10)
    assert huge.status_code == 429 and huge.json()["error"]["code"] == "budget_exceeded"
    assert fits.status_code == 200
    assert len(server.chat_requests) == 1
    spent = gateway.spent("run", 7)
    assert spent is not None and spent.tokens <= 5_000


# -- 3. a token carries its model, and ends ------------------------------------------------
def test_a_token_is_bound_to_its_model_and_refused_once_it_ends(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm")
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server, name="m"), scripted_backend(server, name="other"))
        with pytest.raises(GatewayConfigError, match="serves no model 'gpt-9'"):
            gateway.issue_token(model="gpt-9")
        token = gateway.issue_token(run_id=3, node_id=4, evaluation_id=5, purpose="solve", model="m")
        free = gateway.issue_token(purpose="chat")  # no model: any (older callers)
        with caller(gateway, token) as client:
            other = ask(client, model="other")
            message = clean_refusal(other, 403, server, "model_not_allowed")
            assert "'m'" in message and "other" in message and other.json()["error"]["param"] == "model"
            clean_refusal(ask(client, model="gpt-9"), 403, server, "model_not_allowed")
            assert ask(client, model="m").status_code == 200
            assert client.post("/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 200
            assert [m["id"] for m in client.get("/models").json()["data"]] == ["m"]
            assert gateway.revoke_token(token)
            late = [ask(client) for _ in range(3)]
            models_late = client.get("/models")
        with caller(gateway, free) as client:
            assert ask(client, model="other").status_code == 200
            assert sorted(m["id"] for m in client.get("/models").json()["data"]) == ["m", "other"]
        with caller(gateway, "clade-never-issued") as client:
            assert ask(client).status_code == 401
            assert ask(client).status_code == 401
    for response in [*late, models_late]:
        message = clean_refusal(response, 401, server, "invalid_api_key")
        assert "revoked" in message
    assert len(server.chat_requests) == 3
    refused = gateway.refused_calls
    assert refused["token_revoked"] == 4 and refused["token_unknown"] == 2 and refused["model_not_allowed"] == 2
    revoked_lines = [r.getMessage() for r in caplog.records if "revoked token" in r.getMessage()]
    assert len(revoked_lines) == 1 and "run 3, node 4, evaluation 5, purpose solve, model m" in revoked_lines[0]
    assert token not in caplog.text
    assert len([r for r in caplog.records if "unknown token" in r.getMessage()]) == 1


# -- 4. connections are bounded, and the gateway keeps serving ------------------------------
FLOOD_SCRIPT = r"""
import json, resource, select, signal, socket, sys
signal.alarm(60)  # never outlive a broken test
path, count = sys.argv[1], int(sys.argv[2])
partial = b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-length: 1000\r\nauthorization: Bear"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = count + 64 if hard == resource.RLIM_INFINITY else min(hard, count + 64)
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
socks, failed = [], 0
for _ in range(min(count, want - 64)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: waits while the listen backlog is full, like a patient attacker
    try:
        s.send(partial)
    except OSError:  # the gateway has closed it already
        failed += 1
    socks.append(s)
print(json.dumps({"opened": len(socks), "closed_before_send": failed}), flush=True)
sys.stdin.readline()
poller = select.poll()
for s in socks:
    poller.register(s, select.POLLIN)
by_fd = {s.fileno(): s for s in socks}
answered = 0
for fd, _ in poller.poll(2000):
    try:
        if by_fd[fd].recv(12).startswith(b"HTTP/1.1 503"):
            answered += 1
    except OSError:
        pass
print(json.dumps({"answered_503": answered}), flush=True)
sys.stdin.readline()
"""


def start_flood(path: Path, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, str(path), str(count)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip


def read_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the flooding process died"
    return dict(json.loads(line))


def tell(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def timed_call(gateway: Gateway, token: str, over: str = "socket") -> tuple[int, float]:
    """One call as the seed agent makes it (a new connection, retried if it cannot connect): status, seconds."""
    started = time.monotonic()
    for attempt in range(20):
        try:
            with caller(gateway, token, over=over, timeout=10) as client:
                status = ask(client).status_code
            break
        except httpx.ConnectError:  # the listen backlog is full (EAGAIN): the kernel's answer to a burst
            time.sleep(0.05 * (attempt + 1))
    else:
        status = 0
    return status, time.monotonic() - started


def test_a_flood_of_half_open_connections_leaves_the_gateway_serving(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server))
        path = gateway.config.socket_path
        assert path is not None
        per_peer = gateway.config.max_connections_per_peer
        sandbox, host = gateway.issue_token(run_id=1, model="m"), gateway.issue_token(purpose="host", model="m")
        during: list[tuple[int, float]] = []
        flooding = threading.Event()

        def another_sandbox() -> None:  # calls all along, from another process than the flood's
            while not flooding.is_set():
                during.append(timed_call(gateway, sandbox))
                time.sleep(0.02)

        flood = start_flood(path, FLOOD)
        calls = threading.Thread(target=another_sandbox)
        calls.start()
        try:
            report = read_line(flood)
            assert report["opened"] >= FLOOD // 2, report
            flooding.set()
            calls.join()
            during += [timed_call(gateway, sandbox), timed_call(gateway, host, over="tcp")]
            tell(flood)
            assert read_line(flood)["answered_503"] > 0  # refused connections were told why, then closed
            assert all(status == 200 and seconds < 3 for status, seconds in during), during
            refused = lambda: gateway.refused_calls.get("peer_connection_limit", 0)  # noqa: E731
            assert wait_for(lambda: refused() >= report["opened"] - per_peer), (report, gateway.refused_calls)
            held = gateway.connections["socket"]  # the flood's, all accepted by now
            assert held <= per_peer + 2, held
        finally:
            flooding.set()
            calls.join()
            flood.kill()
            flood.wait(timeout=30)
        assert len(during) >= 3
        assert wait_for(lambda: gateway.connections["socket"] == 0), gateway.connections
        assert timed_call(gateway, sandbox)[0] == 200
    assert gateway.connections == {"socket": 0, "tcp": 0}
    no_tracebacks(caplog)


def test_caps_make_room_and_half_open_requests_time_out(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), max_connections=40, max_connections_per_peer=16,
                                  request_timeout_s=2.0)  # fmt: skip
        path = gateway.config.socket_path
        assert path is not None
        token = gateway.issue_token(model="m")
        floods = [start_flood(path, 16) for _ in range(4)]  # 64 connections from 4 processes, over the cap of 40
        try:
            for flood in floods:
                read_line(flood)  # its connects are done (in the kernel's backlog, or accepted)
            evicted = lambda: gateway.refused_calls.get("connection_evicted", 0)  # noqa: E731
            assert wait_for(lambda: evicted() >= 64 - 40, timeout=1.5), (gateway.refused_calls, gateway.connections)
            assert gateway.connections["socket"] <= 40
            status, seconds = timed_call(gateway, token)
            assert status == 200 and seconds < 3
            # Nothing completes its request: every flood connection is closed within request_timeout_s, and
            # so is one that sends nothing (no answer) and one that sends half a request (a 408 first).
            answers: dict[str, bytes] = {}
            sent = {"silent": b"", "partial": b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n"}
            started = time.monotonic()
            probes = [threading.Thread(target=lambda k=k: answers.__setitem__(k, raw_exchange(path, sent[k])))
                      for k in sent]  # fmt: skip
            for probe in probes:
                probe.start()
            for probe in probes:
                probe.join()
            assert 1.5 < time.monotonic() - started < 4
            assert answers["silent"] == b""
            status, body = raw_json(answers["partial"])
            assert status == 408 and body["error"]["code"] == "request_timeout"
            assert wait_for(lambda: gateway.connections["socket"] == 0, timeout=3), gateway.connections
            assert gateway.refused_calls["request_timeout"] >= 2 + 30
        finally:
            for flood in floods:
                flood.kill()
                flood.wait(timeout=30)
    no_tracebacks(caplog)


def test_a_token_cannot_hold_more_requests_than_its_cap(gateway_factory: GatewayFactory) -> None:
    def responder(request: ChatRequest) -> Reply:
        slow = request.last_text == "slow"
        return Reply.text("slow" if slow else "quick", delay_s=1.5 if slow else 0)

    with ScriptedServer(responder) as server:
        gateway = gateway_factory(scripted_backend(server), max_requests_per_token=2)
        greedy, other = gateway.issue_token(model="m"), gateway.issue_token(model="m")
        results: list[httpx.Response] = []
        lock = threading.Lock()
        barrier = threading.Barrier(5)

        def one() -> None:
            with caller(gateway, greedy) as client:
                barrier.wait()
                response = ask(client, "slow")
                with lock:
                    results.append(response)

        threads = [threading.Thread(target=one) for _ in range(5)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        status, seconds = timed_call(gateway, other)  # another sandbox is served meanwhile
        for thread in threads:
            thread.join()
    assert status == 200 and seconds < 1.0
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 429, 429, 429], codes
    refusal = next(r for r in results if r.status_code == 429)
    assert refusal.json()["error"]["code"] == "too_many_requests" and "2 requests" in refusal.json()["error"]["message"]
    assert gateway.refused_calls["too_many_requests"] == 3


def test_defaults_of_the_limits() -> None:
    from llm.config import GatewayConfig

    cfg = GatewayConfig()
    assert cfg.max_body_bytes == 8 * 1024 * 1024 and cfg.max_header_bytes == 64 * 1024
    assert cfg.max_json_depth == 64 and cfg.max_completion_tokens == 131_072 and cfg.max_choices == 4
    assert (cfg.max_connections, cfg.max_connections_per_peer, cfg.max_tcp_connections) == (512, 64, 256)
    assert (cfg.request_timeout_s, cfg.keep_alive_s, cfg.max_requests_per_token) == (15.0, 15.0, 16)


def test_tokens_remember_their_model_and_their_end() -> None:
    from llm.tokens import TokenRegistry

    registry = TokenRegistry()
    bound, free = registry.issue(run_id=1, purpose="solve", model="m"), registry.issue(run_id=1)
    grant = registry.lookup(bound)
    assert grant is not None and grant.model == "m" and registry.lookup(free).model is None  # type: ignore[union-attr]
    assert bound not in grant.describe() and "model m" in grant.describe()
    assert registry.revoked(bound) is None
    assert registry.revoke(bound) and registry.lookup(bound) is None
    assert registry.revoked(bound) == grant
    assert registry.revoke_where(run_id=1) == 1 and registry.revoked(free) is not None


def test_scrub_removes_every_form_of_the_backend_address() -> None:
    from llm.backend import scrub
    from llm.config import BackendConfig

    cfg = BackendConfig(name="local", api_base="http://vllm.internal.example:8443/v1")
    texts = [
        "litellm.APIConnectionError: Hosted_vllmException - Cannot connect to host vllm.internal.example:8443 "
        "ssl:default [Connection refused]",
        "error at http://vllm.internal.example:8443/v1/chat/completions (api_base=http://vllm.internal.example:8443/v1)",
        "upstream 10.0.3.7:8000 and [fd00::1]:9000 and localhost:8000 failed",
        "Received Model Group=x\nAvailable Model Group Fallbacks=None host: vllm.internal.example",
    ]
    for text in texts:
        cleaned = scrub(text, cfg)
        for secret in ("vllm.internal", "8443", "10.0.3.7", "fd00::1", "localhost:8000"):
            assert secret not in cleaned, cleaned
    assert scrub("the prompt is too long: 9000 > 8192 tokens", cfg) == "the prompt is too long: 9000 > 8192 tokens"
