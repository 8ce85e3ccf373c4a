"""The scripted model server speaks real HTTP, over TCP and a Unix socket,
and answers exactly what its script says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from llm.uds import http_client, unix_base_url
from tests.support.script import ChatRequest, Match, Reply, Rule, Script
from tests.support.scripted_server import ScriptedServer

CHAT = "/chat/completions"


def chat(client: httpx.Client, text: str = "hello", **extra: object) -> httpx.Response:
    body = {"model": "scripted", "messages": [{"role": "user", "content": text}], **extra}
    return client.post(CHAT, json=body)


def test_text_tool_call_and_empty_replies_in_order() -> None:
    replies = [Reply.text("first"), Reply.tool_call("bash", {"command": "ls -la"}), Reply.empty()]
    with ScriptedServer(replies) as server, http_client(server.base_url) as client:
        first = chat(client).json()
        assert first["object"] == "chat.completion"
        assert first["choices"][0]["message"] == {"role": "assistant", "content": "first"}
        assert first["choices"][0]["finish_reason"] == "stop"
        usage = first["usage"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

        second = chat(client).json()["choices"][0]
        assert second["finish_reason"] == "tool_calls"
        call = second["message"]["tool_calls"][0]
        assert call["type"] == "function" and call["function"]["name"] == "bash"
        assert json.loads(call["function"]["arguments"]) == {"command": "ls -la"}

        third = chat(client).json()
        assert third["choices"][0]["message"]["content"] == ""
        assert third["usage"]["completion_tokens"] == 0

        exhausted = chat(client)
        assert exhausted.status_code == 500
        assert exhausted.json()["error"]["code"] == "script_exhausted"
    assert len(server.chat_requests) == 4


def test_malformed_tool_call_arguments_are_sent_as_they_are() -> None:
    with ScriptedServer([Reply.malformed_tool_call("bash", '{"command": "ls')]) as server:
        with http_client(server.base_url) as client:
            call = chat(client).json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"command": "ls'
    with pytest.raises(ValueError):
        json.loads(call["function"]["arguments"])


def test_errors_in_openai_shape() -> None:
    replies = [Reply.server_error(), Reply.rate_limited(retry_after=2), Reply.context_length_exceeded()]
    with ScriptedServer(replies) as server, http_client(server.base_url) as client:
        error_500 = chat(client)
        assert error_500.status_code == 500 and error_500.json()["error"]["type"] == "server_error"
        error_429 = chat(client)
        assert error_429.status_code == 429 and error_429.headers["retry-after"] == "2"
        error_400 = chat(client)
        assert error_400.status_code == 400
        error = error_400.json()["error"]
        assert error["code"] == "context_length_exceeded" and error["type"] == "invalid_request_error"
        assert "maximum context length" in error["message"]


def test_garbage_and_hang_up() -> None:
    with ScriptedServer([Reply.garbage("<html>oops</html>"), Reply.hang_up(), "fine"]) as server:
        with http_client(server.base_url) as client:
            garbage = chat(client)
            assert garbage.status_code == 200 and garbage.text == "<html>oops</html>"
            with pytest.raises(httpx.RemoteProtocolError):
                chat(client)
            assert chat(client).json()["choices"][0]["message"]["content"] == "fine"


def test_delay_is_honoured_and_stop_does_not_wait_for_it() -> None:
    server = ScriptedServer([Reply.text("late", delay_s=0.3), Reply.text("never", delay_s=600)]).start()
    with http_client(server.base_url, timeout=5) as client:
        assert chat(client).json()["choices"][0]["message"]["content"] == "late"
        with pytest.raises(httpx.ReadTimeout):
            client.post(CHAT, json={"model": "m", "messages": []}, timeout=0.5)
    server.stop()  # returns although a reply is still "sleeping"


def test_unix_socket_and_tcp_at_once(tmp_path: Path) -> None:
    sock = tmp_path / "model.sock"
    with ScriptedServer(["over tcp", "over the socket"], port=0, uds=sock) as server:
        assert server.port and sock.is_socket()
        with http_client(server.base_url) as client:
            assert chat(client).json()["choices"][0]["message"]["content"] == "over tcp"
        with http_client(unix_base_url(sock)) as client:
            assert chat(client).json()["choices"][0]["message"]["content"] == "over the socket"
            models = client.get("/models").json()
            assert models["data"][0]["id"] == "scripted"
    assert not sock.exists()


def test_rules_callables_and_records() -> None:
    def shout(request: ChatRequest) -> str:
        return request.last_text.upper()

    script = Script(
        rules=[
            Rule(when=Match(last_role="tool"), reply=Reply.text("saw the tool output")),
            Rule(when=Match(last_contains="diagnose"), reply="diagnosis: off by one", times=1),
        ],
        default=shout,
    )
    with ScriptedServer(script) as server, http_client(server.base_url) as client:
        assert chat(client, "please diagnose").json()["choices"][0]["message"]["content"] == "diagnosis: off by one"
        assert chat(client, "please diagnose").json()["choices"][0]["message"]["content"] == "PLEASE DIAGNOSE"
        tool_turn = {
            "model": "scripted",
            "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "ok", "tool_call_id": "1"}],
        }
        assert client.post(CHAT, json=tool_turn).json()["choices"][0]["message"]["content"] == "saw the tool output"
        tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
        chat(client, "with tools", tools=tools, headers=None)
    recorded = server.requests
    assert [r.path for r in recorded] == ["/v1/chat/completions"] * 4
    assert recorded[-1].body["tools"] == tools
    assert recorded[0].headers["content-type"] == "application/json"


def test_api_key_is_checked_when_set() -> None:
    with ScriptedServer(["ok"], api_key="sk-secret") as server:
        with http_client(server.base_url) as client:
            assert chat(client).status_code == 401
        with http_client(server.base_url, headers={"Authorization": "Bearer sk-secret"}) as client:
            assert chat(client).status_code == 200


def test_streaming_with_usage() -> None:
    with ScriptedServer([Reply.text("one two three")]) as server, http_client(server.base_url) as client:
        response = chat(client, stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_json_script_file_and_subprocess(tmp_path: Path) -> None:
    script_file = tmp_path / "script.json"
    script_file.write_text(
        json.dumps(
            {
                "models": ["tiny"],
                "replies": [
                    {"content": "hi", "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
                    {"tool_calls": [{"name": "edit", "arguments": {"path": "a.py"}}]},
                    {"error": "context_length"},
                ],
                "rules": [{"when": {"last_contains": "ping"}, "reply": "pong"}],
            }
        )
    )
    sock = tmp_path / "s.sock"
    record = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_server", "--script", str(script_file), "--uds", str(sock),
         "--record", str(record)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        ready = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert ready["uds"] == str(sock) and ready["tcp"] is None
        with http_client(ready["base_url"]) as client:
            assert client.get("/models").json()["data"][0]["id"] == "tiny"
            assert chat(client, "ping").json()["choices"][0]["message"]["content"] == "pong"
            first = chat(client).json()
            assert first["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
            assert chat(client).json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "edit"
            assert chat(client).status_code == 400
            over_http = client.get("http://localhost/_scripted/requests").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines == over_http  # the file and the HTTP view hold the same record (that GET included)
    assert over_http[-1]["path"] == "/_scripted/requests"
    assert [entry["path"] for entry in lines].count("/v1/chat/completions") == 4
