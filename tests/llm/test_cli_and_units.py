"""`clade llm` as a user runs it (no vLLM needed here), and the small pieces:
tokens, model-server state, the embedded model's chat template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive import CladeHome, open_archive
from llm.convert_gguf import CHAT_TEMPLATE
from llm.local_server import ServerState, state_path, status, stop
from llm.tokens import TOKEN_PREFIX, TokenRegistry
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer

CLADE = str(Path(sys.executable).with_name("clade"))


def clade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLADE, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_chat_goes_through_the_gateway_and_is_recorded(clade_home: CladeHome) -> None:
    reply = Reply.text("Use s[::-1].", prompt_tokens=12, completion_tokens=4)
    with ScriptedServer(Script(default=reply)) as server:
        result = clade("llm", "chat", "How do I reverse a string?", "--model", "hosted_vllm/scripted",
                       "--api-base", server.base_url, "--system", "Be brief.")  # fmt: skip
        as_json = clade("llm", "chat", "again", "--model", "hosted_vllm/scripted", "--api-base", server.base_url,
                        "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Use s[::-1]."
    assert "12 prompt + 4 completion tokens" in result.stderr
    sent = server.chat_requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How do I reverse a string?"},
    ]
    assert json.loads(as_json.stdout)["response"]["usage"]["total_tokens"] == 16
    archive = open_archive(clade_home)
    calls = archive.repo.llm_calls()
    archive.close()
    assert [(c.purpose, c.run_id, c.prompt_tokens) for c in calls] == [("chat", None, 12), ("chat", None, 12)]


def test_chat_errors_are_one_line_with_the_fix(clade_home: CladeHome) -> None:
    no_server = clade("llm", "chat", "hi")
    assert no_server.returncode == 2 and "clade llm serve --detach" in no_server.stderr
    assert len(no_server.stderr.strip().splitlines()) == 1
    with ScriptedServer([Reply.context_length_exceeded()]) as server:
        too_long = clade("llm", "chat", "hi", "--model", "hosted_vllm/scripted", "--api-base", server.base_url)
    assert too_long.returncode == 2 and "HTTP 400" in too_long.stderr and "context window" in too_long.stderr


def test_status_and_stop_without_a_server(clade_home: CladeHome) -> None:
    assert "no model server was started" in clade("llm", "status").stdout
    assert json.loads(clade("llm", "status", "--json").stdout) is None
    assert "no model server was running" in clade("llm", "stop").stdout


def test_a_stale_state_file_is_not_taken_for_a_server(clade_home: CladeHome) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ServerState(pid=dead.pid, port=1, model="m", served_name="m", api_base="http://127.0.0.1:1/v1", log="x",
                started_at=time.time()).save(state_path(clade_home))  # fmt: skip
    shown = status(clade_home)
    assert shown is not None and shown["running"] is False and shown["answers"] is False
    assert stop(clade_home) is not None  # forgets it, kills nothing
    assert status(clade_home) is None


def test_tokens_are_random_revocable_and_scoped() -> None:
    registry = TokenRegistry()
    a = registry.issue(run_id=1, evaluation_id=10, purpose="solve")
    b = registry.issue(run_id=1, evaluation_id=11)
    c = registry.issue(run_id=2)
    assert a.startswith(TOKEN_PREFIX) and len({a, b, c}) == 3
    grant = registry.lookup(a)
    assert grant is not None and (grant.run_id, grant.evaluation_id, grant.purpose) == (1, 10, "solve")
    assert registry.revoke_where(evaluation_id=11) == 1 and registry.lookup(b) is None
    assert registry.revoke_where(run_id=1) == 1 and registry.lookup(a) is None
    assert registry.lookup(c) is not None and len(registry) == 1
    with pytest.raises(ValueError):
        registry.revoke_where()


def test_embedded_chat_template_handles_tools_and_null_content() -> None:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "user", "content": "List files."},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "1", "type": "function",
                         "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": "a.py"},
    ]  # fmt: skip
    text = template.render(messages=messages, tools=tools, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert '<tools>\n{"name": "bash", "parameters": {"type": "object"}}\n</tools>' in text
    assert '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call><|im_end|>' in text
    assert "<tool_response>\na.py\n</tool_response>" in text
    assert text.endswith("<|im_start|>assistant\n")
    plain = template.render(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                            add_generation_prompt=False)  # fmt: skip
    assert plain == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
