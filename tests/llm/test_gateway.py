"""The gateway over real HTTP (a Unix socket, as a sandbox uses it) in front
of the scripted model server: tokens, forwarding, accounting, failures."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from archive import Archive
from llm.config import Budget, GatewayConfig
from tests.llm.conftest import GatewayFactory, ask, caller, scripted_backend
from tests.support.script import ChatRequest, Reply, Script
from tests.support.scripted_server import ScriptedServer

FIXED = Reply.text("fixed answer", prompt_tokens=10, completion_tokens=5)


def test_calls_are_accounted_to_run_node_and_evaluation(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("accounting", {})
    root = archive.repo.add_node(run.id, None)
    child = archive.repo.add_node(run.id, root.id)
    evaluation = archive.repo.start_evaluation(child.id, "task-1")
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo)
        solve = gateway.issue_token(run_id=run.id, node_id=child.id, evaluation_id=evaluation.id, purpose="solve")
        diagnose = gateway.issue_token(run_id=run.id, node_id=root.id, purpose="diagnose")
        with caller(gateway, solve) as client:
            for _ in range(2):
                reply = ask(client)
                assert reply.status_code == 200, reply.text
                assert reply.json()["choices"][0]["message"]["content"] == "fixed answer"
        with caller(gateway, diagnose, over="tcp") as client:
            assert ask(client).status_code == 200
        gateway.flush()

    calls = archive.repo.llm_calls(run_id=run.id)
    assert [(c.node_id, c.evaluation_id, c.purpose) for c in calls] == [
        (child.id, evaluation.id, "solve"),
        (child.id, evaluation.id, "solve"),
        (root.id, None, "diagnose"),
    ]
    for call in calls:
        assert (call.prompt_tokens, call.completion_tokens, call.error) == (10, 5, None)
        assert call.model == "hosted_vllm/scripted" and call.latency_s is not None and call.latency_s > 0
    stored = archive.repo.get_run(run.id)
    assert (stored.llm_calls_count, stored.prompt_tokens, stored.completion_tokens) == (3, 30, 15)
    assert gateway.spent("evaluation", evaluation.id).tokens == 30


def test_unknown_missing_and_revoked_tokens_are_refused(gateway_factory: GatewayFactory) -> None:
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server))
        token = gateway.issue_token(run_id=None, purpose="test")
        for bad in (None, "clade-not-a-token", token + "x"):
            with caller(gateway, bad) as client:
                refused = ask(client)
                assert refused.status_code == 401
                assert refused.json()["error"]["code"] == "invalid_api_key"
                assert "CLADE_LLM_TOKEN" in refused.json()["error"]["message"]
                assert client.get("/models").status_code == 401
        with caller(gateway, token) as client:
            assert ask(client).status_code == 200
            assert gateway.revoke_token(token)
            assert ask(client).status_code == 401
        assert len(server.chat_requests) == 1  # refused calls never reach the model


@pytest.mark.parametrize("transport", ["auto", "litellm"])
def test_tool_calls_pass_through_unchanged(gateway_factory: GatewayFactory, transport: str) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "bash",
                "description": "Run a shell command.",
                "parameters": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                },
            },
        }
    ]
    messages = [
        {"role": "system", "content": "You fix bugs."},
        {"role": "user", "content": "Fix it."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "a.py"},
    ]
    replies = [Reply.tool_call("bash", {"command": "pytest -q"}), Reply.malformed_tool_call("bash", '{"command": "ls')]
    with ScriptedServer(replies) as server:
        gateway = gateway_factory(scripted_backend(server, transport=transport))
        with caller(gateway, gateway.issue_token(purpose="t")) as client:
            body = {"model": "m", "messages": messages, "tools": tools, "tool_choice": "auto", "temperature": 0.0}
            first = client.post("/chat/completions", json=body).json()["choices"][0]
            second = client.post("/chat/completions", json=body).json()["choices"][0]
    sent = server.chat_requests[0]
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    if transport == "auto":  # an OpenAI-compatible server gets the messages as they came (llm.direct)
        assert sent["messages"] == messages
    else:  # litellm leaves out a null "content" (the same thing in OpenAI's format); nothing else changes
        assert sent["messages"] == [{k: v for k, v in m.items() if v is not None} for m in messages]
    assert first["finish_reason"] == "tool_calls"
    assert json.loads(first["message"]["tool_calls"][0]["function"]["arguments"]) == {"command": "pytest -q"}
    assert second["message"]["tool_calls"][0]["function"]["arguments"] == '{"command": "ls'  # verbatim


def test_request_cannot_steer_litellm_and_keys_stay_in_the_gateway(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLADE_TEST_BACKEND_KEY", "sk-very-secret")
    with ScriptedServer(Script(default=FIXED), api_key="sk-very-secret") as server:
        gateway = gateway_factory(scripted_backend(server, api_key_env="CLADE_TEST_BACKEND_KEY"))
        token = gateway.issue_token(purpose="t")
        with caller(gateway, token) as client:
            hostile = ask(client, api_base="http://127.0.0.1:9/v1", api_key="x", top_k=3)
            models = client.get("/models")
    assert hostile.status_code == 200, hostile.text
    assert "sk-very-secret" not in hostile.text + str(hostile.headers) + models.text
    received = server.requests[-1]
    assert received.headers["authorization"] == "Bearer sk-very-secret"  # the gateway's key, not the token
    assert token not in json.dumps(received.to_dict())
    assert received.body["top_k"] == 3  # unknown parameters reach the backend as they are


def test_a_streamed_request_is_answered_as_server_sent_events_and_accounted(gateway_factory: GatewayFactory,
                                                                           archive: Archive) -> None:
    """`stream: true` (what the openai SDK and litellm send when asked to stream): the backend is asked
    for the whole answer, without `stream`, and the client reads it as chunks ending in [DONE]."""
    run = archive.repo.create_run("streamed", {})
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo)
        with caller(gateway, gateway.issue_token(run_id=run.id)) as client:
            response = ask(client, stream=True, stream_options={"include_usage": True})
        gateway.flush()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "fixed answer"
    assert chunks[-1]["usage"]["total_tokens"] == 15 and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert "stream" not in server.chat_requests[0] and "stream_options" not in server.chat_requests[0]
    assert gateway.spent("run", run.id).tokens == 15
    [call] = archive.repo.llm_calls(run_id=run.id)
    assert call.prompt_tokens == 10 and call.completion_tokens == 5


def test_unknown_model_and_bad_bodies_are_clear_400s(gateway_factory: GatewayFactory) -> None:
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server))
        with caller(gateway, gateway.issue_token()) as client:
            unknown = ask(client, model="gpt-9")
            assert unknown.status_code == 404 and "['m']" in unknown.json()["error"]["message"]
            assert ask(client, stream="yes").status_code == 400
            assert client.post("/chat/completions", content=b"{not json").status_code == 400
            assert client.post("/chat/completions", json={"model": "m", "messages": []}).status_code == 400
            assert client.get("/models").json()["data"][0]["id"] == "m"
        assert server.chat_requests == []


def test_context_length_error_is_a_clear_400_and_not_retried(gateway_factory: GatewayFactory) -> None:
    with ScriptedServer([Reply.context_length_exceeded(), "unused"]) as server:
        gateway = gateway_factory(scripted_backend(server, max_retries=3))
        with caller(gateway, gateway.issue_token()) as client:
            reply = ask(client, "x" * 1000)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["type"] == "invalid_request_error"
    assert "context window" in error["message"] and "maximum context length" in error["message"]
    assert len(server.chat_requests) == 1


def test_429_and_5xx_and_garbage_are_retried(gateway_factory: GatewayFactory) -> None:
    replies = [Reply.rate_limited(retry_after=0), Reply.server_error(), Reply.garbage(), Reply.hang_up(), "finally"]
    with ScriptedServer(replies) as server:
        gateway = gateway_factory(scripted_backend(server, max_retries=4))
        with caller(gateway, gateway.issue_token()) as client:
            reply = ask(client)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "finally"
    assert len(server.chat_requests) == 5


def test_backend_down_gives_a_clear_error_and_the_gateway_keeps_serving(
    archive: Archive, gateway_factory: GatewayFactory
) -> None:
    run = archive.repo.create_run("down", {})
    down = ScriptedServer(Script(default=FIXED)).start()
    down_backend = scripted_backend(down, name="down", max_retries=1)
    down.stop()  # nothing listens on its port any more
    with ScriptedServer(Script(default=FIXED)) as up:
        gateway = gateway_factory(down_backend, scripted_backend(up, name="up"), repo=archive.repo)
        with caller(gateway, gateway.issue_token(run_id=run.id)) as client:
            failed = ask(client, model="down")
            served = ask(client, model="up")
        gateway.flush()
    assert failed.status_code == 503
    error = failed.json()["error"]
    assert error["code"] == "backend_unavailable" and "cannot reach backend 'down'" in error["message"]
    assert "clade llm status" in error["message"]
    assert served.status_code == 200
    errors = [c.error for c in archive.repo.llm_calls(run_id=run.id)]
    assert errors[0] is not None and "backend_unavailable" in errors[0] and errors[1] is None


def test_slow_backend_times_out_and_the_gateway_keeps_serving(gateway_factory: GatewayFactory) -> None:
    def responder(request: ChatRequest) -> Reply:
        slow = request.last_text == "slow"
        return Reply.text("late" if slow else "quick", delay_s=30 if slow else 0)

    with ScriptedServer(responder) as server:
        gateway = gateway_factory(scripted_backend(server, timeout_s=0.5, max_retries=1))
        with caller(gateway, gateway.issue_token()) as client:
            slow = ask(client, "slow")
            quick = ask(client, "fast")
    assert slow.status_code == 504
    assert slow.json()["error"]["code"] == "backend_timeout"
    assert "did not answer within 0.5 s" in slow.json()["error"]["message"]
    assert "after 2 attempts" in slow.json()["error"]["message"]
    assert quick.status_code == 200 and quick.json()["choices"][0]["message"]["content"] == "quick"


def test_a_call_in_flight_when_the_gateway_stops_is_answered_and_recorded_without_a_traceback(
    archive: Archive, gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A run that ends while an agent still waits on the model: uvicorn cancels the
    call after stop()'s grace; the caller gets a 503 that says why, the archive its row."""
    run = archive.repo.create_run("stopping", {})
    with ScriptedServer(Script(default=Reply.text("too late", delay_s=30))) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo)
        answers: list = []
        with caller(gateway, gateway.issue_token(run_id=run.id, purpose="solve")) as client:
            waiting = threading.Thread(target=lambda: answers.append(ask(client)))
            waiting.start()
            while not server.chat_requests:
                time.sleep(0.05)
            with caplog.at_level(logging.WARNING):
                gateway.stop()
            waiting.join(timeout=30)
    assert answers and answers[0].status_code == 503, answers
    assert answers[0].json()["error"]["code"] == "gateway_stopped"
    [call] = archive.repo.llm_calls(run_id=run.id)
    assert call.error is not None and "gateway_stopped" in call.error
    printed = capfd.readouterr().err  # uvicorn's own handler writes to stderr, not through caplog
    assert "Traceback" not in printed and "graceful shutdown exceeded" not in printed, printed
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert any("stopped while a solve call" in r.getMessage() for r in caplog.records), caplog.text


def test_garbage_forever_gives_a_clear_502_and_the_gateway_keeps_serving(gateway_factory: GatewayFactory) -> None:
    def responder(request: ChatRequest) -> Reply:
        return Reply.garbage('{"no": "choices"}') if request.last_text == "bad" else Reply.text("good")

    with ScriptedServer(responder) as server:
        gateway = gateway_factory(scripted_backend(server, max_retries=2))
        with caller(gateway, gateway.issue_token()) as client:
            bad = ask(client, "bad")
            good = ask(client, "ok")
    assert bad.status_code == 502
    assert bad.json()["error"]["code"] == "backend_error"
    assert "not a chat completion" in bad.json()["error"]["message"]
    assert good.status_code == 200
    assert len(server.chat_requests) == 4  # 3 attempts at the bad one, 1 good


def test_concurrency_limit_per_backend(gateway_factory: GatewayFactory) -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def responder(request: ChatRequest) -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return Reply.text("ok")

    with ScriptedServer(responder) as server:
        gateway = gateway_factory(scripted_backend(server, max_concurrency=2))
        token = gateway.issue_token()

        def one_caller() -> list[int]:
            with caller(gateway, token) as client:
                return [ask(client).status_code for _ in range(2)]

        results = _in_parallel(one_caller, 8)
    assert [code for codes in results for code in codes] == [200] * 16
    assert state["most"] == 2


def _in_parallel(fn, n: int) -> list:  # type: ignore[no-untyped-def]
    """Run fn in n threads started together; their results in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_gateway_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        GatewayConfig(tcp_host="0.0.0.0")
    with pytest.raises(ValueError, match="unique"):
        GatewayConfig(backends=[{"name": "a"}, {"name": "a"}])
    assert Budget().unlimited and not Budget(calls=1).unlimited


def test_a_key_quoted_by_the_backend_never_reaches_the_caller(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLADE_TEST_BACKEND_KEY", "sk-quoted-secret")
    refusal = Reply.http_error(
        401, "Incorrect API key provided: sk-quoted-secret", "invalid_request_error", "invalid_api_key"
    )
    with ScriptedServer([refusal]) as server:
        gateway = gateway_factory(scripted_backend(server, api_key_env="CLADE_TEST_BACKEND_KEY"))
        with caller(gateway, gateway.issue_token()) as client:
            reply = ask(client)
    assert reply.status_code == 502 and reply.json()["error"]["code"] == "backend_auth_error"
    assert "sk-quoted-secret" not in reply.text
    assert "CLADE_TEST_BACKEND_KEY" in reply.json()["error"]["message"]
    assert len(server.chat_requests) == 1  # a refused key is not retried
