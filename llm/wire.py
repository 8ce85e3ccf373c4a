"""The OpenAI chat-completions wire format, as plain dicts.

The scripted test server and the gateway both speak it; building the shapes
in one place keeps their answers identical to what OpenAI-compatible clients
(the seed agent, the openai SDK, litellm) parse, error bodies included.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

_ids = itertools.count(1)


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: `{"error": {"message", "type", "code", "param"}}`."""
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


def context_length_error(message: str | None = None) -> dict[str, Any]:
    """The 400 body OpenAI (and vLLM) send when the prompt does not fit."""
    return error_body(
        message
        or "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def tool_call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    """One entry of `message.tool_calls`. A string `arguments` is sent as it
    is (that is how a malformed call is made); anything else is JSON-encoded."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": raw}}


def chat_completion(
    *,
    model: str,
    content: str | None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def stream_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """The same completion as `chat.completion.chunk` objects: a role delta,
    the content in a few pieces, the tool calls, the finish reason, and the
    usage chunk when the client asked for it (`stream_options.include_usage`)."""
    base = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"]}
    base["model"] = completion["model"]
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    content = message.get("content") or ""
    pieces = content.split(" ")
    for i, piece in enumerate(pieces):
        if piece or i == 0:
            chunks.append(chunk({"content": piece if i == 0 else " " + piece}))
    for index, call in enumerate(message.get("tool_calls") or []):
        chunks.append(chunk({"tool_calls": [{"index": index, **call}]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


def models_list(names: list[str], owned_by: str = "clade") -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": owned_by} for name in names],
    }


def text_of(message: dict[str, Any]) -> str:
    """A message's text, whether `content` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def rough_token_count(text: str) -> int:
    """Four characters a token: the usual rule of thumb, deterministic, and
    good enough for a test server that must report *some* usage."""
    return (len(text) + 3) // 4
