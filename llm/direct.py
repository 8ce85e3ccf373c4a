"""Forwarding to a server that already speaks OpenAI's protocol, without litellm.

litellm's `acompletion` spends milliseconds of CPU on every call (its logging
object, its cost calculator, its response model), all on the gateway's one
event loop: with 16 sandboxes calling at once the calls queue behind each
other. A backend that is itself an OpenAI chat-completions server at an
`api_base` (a vLLM server, `hosted_vllm/NAME`, the default backbone; or
`openai/NAME` with a base URL) needs none of that: the checked request goes on
as it came, under the backend's model name, over one keep-alive connection
pool, and the server's answer comes back as it wrote it. A failure is named
by HTTP status and body as litellm's classes name it (`BackendFailure`, read
by `llm.backend.classify`), so the caller sees the same errors either way.

Every other provider goes through litellm, as does a backend whose config
says `transport: litellm` or passes `litellm_kwargs`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from llm.config import BackendConfig

class BackendFailure(Exception):
    """A failed attempt seen without litellm: its kind, as llm.backend.classify names
    litellm's classes, the backend's own words, and its response headers."""

    def __init__(self, kind: str, message: str, status_code: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status_code = kind, message, status_code
        self.litellm_response_headers = headers or {}  # where llm.backend reads Retry-After


OPENAI_COMPATIBLE = ("hosted_vllm/", "openai/")
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too many tokens", "prompt is too long")


def direct_model(cfg: BackendConfig) -> str | None:
    """The model name to send when this backend is reached directly, else None (litellm)."""
    if cfg.transport == "litellm" or not cfg.api_base or cfg.litellm_kwargs:
        return None
    return next((cfg.model[len(prefix):] for prefix in OPENAI_COMPATIBLE if cfg.model.startswith(prefix)), None)


class DirectClient:
    """One backend's connection pool, made on the gateway's event loop."""

    def __init__(self, cfg: BackendConfig, model: str) -> None:
        self.cfg, self.model = cfg, model
        self.url = cfg.api_base.rstrip("/") + "/chat/completions"  # type: ignore[union-attr]
        self._client: aiohttp.ClientSession | None = None

    def reset(self) -> None:
        self._client = None  # bound to a loop that is gone

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The server's completion as a dict, for a body without the gateway's own keys;
        raise BackendFailure for anything else."""
        if self._client is None:  # aiohttp, not httpx: a third of the CPU a call costs the gateway's loop
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.cfg.max_concurrency),
                json_serialize=json.dumps)
        key = self.cfg.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            async with self._client.post(self.url, json={**body, "model": self.model}, headers=headers) as response:
                status, text, answer_headers = response.status, await response.text(errors="replace"), response.headers
        except asyncio.TimeoutError:
            raise BackendFailure("timeout", "timed out") from None
        except aiohttp.ClientError as exc:  # refused, reset, hung up
            raise BackendFailure("unreachable", f"Cannot connect: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise _failure(status, text, dict(answer_headers))
        try:
            data = json.loads(text)
        except ValueError:
            raise BackendFailure("garbage", f"the answer is not JSON: {text[:200]!r}") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise BackendFailure("garbage", f"the JSON answer holds no choices: {text[:200]!r}")
        return data

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _failure(status: int, text: str, headers: dict[str, str]) -> BackendFailure:
    """An error answer as the kind litellm would have raised for it."""
    message, code = text[:1000], None
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else None
        if isinstance(error, dict):
            message, code = str(error.get("message") or message), error.get("code")
        elif isinstance(error, str):
            message = error
    except ValueError:
        pass
    lowered = message.lower()
    if status in (400, 413) and (code == "context_length_exceeded" or any(w in lowered for w in _CONTEXT_WORDS)):
        kind = "context"
    elif status == 429:
        kind = "rate_limit"
    elif status in (401, 403):
        kind = "auth"
    elif status == 404:
        kind = "not_found"
    elif status in (400, 422):
        kind = "bad_request"
    elif status == 408:
        kind = "timeout"
    else:
        kind = "other"  # 5xx and the rest: retried
    return BackendFailure(kind, message, status, headers)
