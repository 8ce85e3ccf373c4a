"""One request through the gateway, as `clade llm chat` sends it.

The call takes the same road as an agent's: a gateway (started here, on a
free loopback port), a token, litellm, the backend; and it leaves the same
trace, an `LLMCall` row (purpose "chat", no run) in the archive.
"""

from __future__ import annotations

import time
from typing import Any

from archive import open_archive
from llm.config import BackendConfig, GatewayConfig
from llm.errors import LLMError
from llm.gateway import Gateway
from llm.local_server import status
from llm.uds import http_client


def chat_backend(model: str | None, api_base: str | None, api_key_env: str | None) -> BackendConfig:
    """The local model server when no model is named (or its name is), else `model` as a litellm string."""
    local = status()
    if local is not None and local["answers"] and model in (None, local["served_name"]):
        return BackendConfig(name="chat", model=f"hosted_vllm/{local['served_name']}", api_base=str(local["api_base"]))
    if model is None:
        raise LLMError(
            "no local model server answers: start one with `clade llm serve --detach`, "
            "or name a provider's model with --model (e.g. openai/gpt-4o-mini --api-key-env OPENAI_API_KEY)"
        )
    return BackendConfig(name="chat", model=model, api_base=api_base, api_key_env=api_key_env, max_retries=2)


def chat_once(
    prompt: str,
    *,
    model: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    system: str | None = None,
    max_tokens: int = 512,
) -> dict[str, Any]:
    backend = chat_backend(model, api_base, api_key_env)
    archive = open_archive()
    gateway = Gateway(GatewayConfig(backends=[backend], tcp_port=0), repo=archive.repo)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    try:
        with gateway:
            token = gateway.issue_token(purpose="chat", model="chat")
            started = time.perf_counter()
            with http_client(gateway.base_url, timeout=backend.timeout_s * (backend.max_retries + 1) + 30,
                             headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
                reply = client.post(
                    "/chat/completions", json={"model": "chat", "messages": messages, "max_tokens": max_tokens}
                )
            latency = time.perf_counter() - started
    finally:
        archive.close()
    body = reply.json()
    if reply.status_code != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise LLMError(f"the gateway answered HTTP {reply.status_code}: {error.get('message') or reply.text}")
    usage = body.get("usage") or {}
    cost = gateway.backends["chat"].cost(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    return {"model": backend.model, "response": body, "cost_usd": cost, "latency_s": latency}
