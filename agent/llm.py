"""Talking to the model: OpenAI chat completions over HTTP, standard library only.

The platform's gateway is reached over a Unix socket mounted into the
sandbox (base URL `http+unix://%2Frun%2Fclade%2Fllm.sock/v1`); outside a
sandbox a plain `http://host:port/v1` works too. Transient failures are
retried here so the loop only sees answers or errors it must act on.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


class ModelError(Exception):
    """The model could not answer (after retries)."""


class ContextTooLong(ModelError):
    """The prompt is over the model's context window: shorten the history."""


@dataclass
class Reply:
    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class ModelClient:
    def __init__(
        self, base_url: str, model: str, token: str = "", timeout: float = 300.0, retries: int = 4, backoff: float = 0.5
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.scheme, self.netloc, self.prefix = parsed.scheme, parsed.netloc, parsed.path
        if self.scheme not in {"http", "https", "http+unix"}:
            raise ValueError(f"CLADE_LLM_BASE_URL must be http://, https:// or http+unix://, got {base_url!r}")
        self.model, self.token, self.timeout, self.retries, self.backoff = model, token, timeout, retries, backoff

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "http+unix":
            return _UnixConnection(urllib.parse.unquote(self.netloc), self.timeout)
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=self.timeout)
        return http.client.HTTPConnection(self.netloc, timeout=self.timeout)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        conn = self._connection()
        try:
            headers = {"Content-Type": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            conn.request("POST", self.prefix + path, json.dumps(body), headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, max_tokens: int = 1024
    ) -> Reply:
        # max_tokens bounds each answer: a small model left unbounded rambles for minutes.
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens}
        if tools:
            body["tools"] = tools
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2**attempt, 30))
            try:
                status, text = self._post("/chat/completions", body)
            except (OSError, http.client.HTTPException) as exc:
                last_error = f"cannot reach the model: {exc}"
                continue
            if status == 200:
                return _parse_reply(text)
            last_error = f"HTTP {status}: {text[:500]}"
            if status == 400 and _is_context_error(text):
                raise ContextTooLong(last_error)
            if "budget_exceeded" in text:
                raise ModelError(last_error)  # a spent budget does not come back by waiting
            if status not in (408, 409, 429) and status < 500:
                raise ModelError(last_error)  # a client error will not go away by retrying
        raise ModelError(last_error)


def _is_context_error(text: str) -> bool:
    lowered = text.lower()
    return any(k in lowered for k in ("context_length", "context length", "maximum context", "too many tokens"))


def _parse_reply(text: str) -> Reply:
    try:
        data = json.loads(text)
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"the model answered something that is not a chat completion ({exc}): {text[:300]}")
    usage = data.get("usage") or {}
    return Reply(
        content=message.get("content") or "",
        tool_calls=message.get("tool_calls") or [],
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )
