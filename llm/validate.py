"""The door of `/v1/chat/completions`: what a request may be.

Everything a sandbox sends is written by untrusted code, so a request is
parsed and checked here before anything else looks at it (the budget, the
backend, litellm): a body is JSON within a depth bound, with no NaN or
Infinity anywhere, and every field the gateway forwards and understands
has the type and range the OpenAI API gives it. A refusal is a
`GatewayError` 400 whose message names the field and says what to send
instead; nothing here can raise anything else.

Fields the gateway does not know (vLLM extras such as `top_k`) pass through
unchanged: they are counted, byte for byte, in the call's worst case (see
`llm.backend.prompt_upper_bound`), so no field can reach the backend for free.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm.backend import GatewayError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_STOP_SEQUENCES = 16
MAX_LOGIT_BIAS = 1024


@dataclass(frozen=True)
class Limits:
    max_json_depth: int = 64
    max_completion_tokens: int = 131_072
    max_choices: int = 4


def invalid(message: str, param: str | None = None, code: str = "invalid_body") -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param=param)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def parse_body(raw: bytes, limits: Limits) -> dict[str, Any]:
    """The JSON object of a request body, or a 400 saying what is wrong with it."""
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise invalid(f"the request body nests arrays/objects deeper than {limits.max_json_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, int digits
        raise invalid(f"the request body is not valid JSON ({str(exc)[:200]}): send a chat-completions request "
                      "as UTF-8 JSON, with no NaN or Infinity") from None  # fmt: skip
    if not isinstance(body, dict):
        raise invalid(f"the request body is a JSON {_kind(body)}, not an object: send {{\"model\": ..., "
                      "\"messages\": [...]}")  # fmt: skip
    if _deeper_than(body, limits.max_json_depth):
        raise invalid(f"the request body nests arrays/objects deeper than {limits.max_json_depth} levels: "
                      "flatten it (tool schemas rarely need more than a few levels)")  # fmt: skip
    return body


def _deeper_than(root: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# -- field checks ---------------------------------------------------------------
def _integer(name: str, lo: int, hi: int, hint: str = "") -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"'{name}' must be an integer from {lo} to {hi}, not a {_kind(value)}{hint}", name)
        if not lo <= value <= hi:
            raise invalid(f"'{name}' must be an integer from {lo} to {hi}, got {value}{hint}", name)

    return check


def _number(name: str, lo: float, hi: float) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(f"'{name}' must be a number from {lo:g} to {hi:g}, not a {_kind(value)}", name)
        if not lo <= value <= hi:  # NaN fails too (and never parses anyway)
            raise invalid(f"'{name}' must be a number from {lo:g} to {hi:g}, got {value!r}", name)

    return check


def _of(name: str, *types: type, what: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) and bool not in types:
            raise invalid(f"'{name}' must be {what}, not a boolean", name)
        if not isinstance(value, types):
            raise invalid(f"'{name}' must be {what}, not a {_kind(value)}", name)

    return check


def _list_of_objects(name: str, param: str | None = None) -> Callable[[Any], None]:
    param = param or name

    def check(value: Any) -> None:
        if not isinstance(value, list):
            raise invalid(f"'{name}' must be an array of objects, not a {_kind(value)}", param)
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise invalid(f"'{name}[{index}]' must be an object, not a {_kind(item)}", param)

    return check


def _stop(value: Any) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or len(value) > MAX_STOP_SEQUENCES or not all(isinstance(s, str) for s in value):
        raise invalid(f"'stop' must be a string or an array of at most {MAX_STOP_SEQUENCES} strings", "stop")


def _logit_bias(value: Any) -> None:
    if not isinstance(value, dict) or len(value) > MAX_LOGIT_BIAS:
        raise invalid(f"'logit_bias' must be an object of at most {MAX_LOGIT_BIAS} token ids → numbers", "logit_bias")
    for key, bias in value.items():
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise invalid(f"'logit_bias[{key!r}]' must be a number from -100 to 100", "logit_bias")


def _messages(value: Any) -> None:
    if not isinstance(value, list) or not value:
        got = "an empty array" if value == [] else f"a {_kind(value)}"
        raise invalid(f"a chat-completions request needs a non-empty 'messages' array of objects, got {got}",
                      "messages")  # fmt: skip
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid(f"'{where}' must be an object with 'role' and 'content', not a {_kind(message)}", "messages")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise invalid(f"'{where}.role' must be one of {sorted(ROLES)}, got {_short(role)}", "messages")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise invalid(f"'{where}.content' must be a string, an array of parts or null, not a {_kind(content)}",
                          "messages")  # fmt: skip
        if isinstance(content, list) and not all(isinstance(part, dict) for part in content):
            raise invalid(f"'{where}.content' parts must be objects such as {{\"type\": \"text\", \"text\": ...}}",
                          "messages")  # fmt: skip
        for key in ("tool_calls",):
            if message.get(key) is not None:
                _list_of_objects(f"{where}.{key}", "messages")(message[key])
        for key in ("name", "tool_call_id"):
            if message.get(key) is not None and not isinstance(message[key], str):
                raise invalid(f"'{where}.{key}' must be a string, not a {_kind(message[key])}", "messages")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


@functools.lru_cache(maxsize=8)
def _checks(limits: Limits) -> dict[str, Callable[[Any], None]]:
    tokens_hint = " (the most this gateway lets one call write)"
    return {
        "model": _of("model", str, what="a string (CLADE_MODEL)"),
        "messages": _messages,
        "tools": _list_of_objects("tools"),
        "functions": _list_of_objects("functions"),
        "tool_choice": _of("tool_choice", str, dict, what='"auto", "none", "required" or an object'),
        "function_call": _of("function_call", str, dict, what='"auto", "none" or an object'),
        "parallel_tool_calls": _of("parallel_tool_calls", bool, what="true or false"),
        "temperature": _number("temperature", 0.0, 2.0),
        "top_p": _number("top_p", 0.0, 1.0),
        "presence_penalty": _number("presence_penalty", -2.0, 2.0),
        "frequency_penalty": _number("frequency_penalty", -2.0, 2.0),
        "n": _integer("n", 1, limits.max_choices),
        "best_of": _integer("best_of", 1, limits.max_choices),
        "max_tokens": _integer("max_tokens", 1, limits.max_completion_tokens, tokens_hint),
        "max_completion_tokens": _integer("max_completion_tokens", 1, limits.max_completion_tokens, tokens_hint),
        "min_tokens": _integer("min_tokens", 0, limits.max_completion_tokens),
        "stop": _stop,
        "logit_bias": _logit_bias,
        "logprobs": _of("logprobs", bool, what="true or false"),
        "top_logprobs": _integer("top_logprobs", 0, 20),
        "seed": _integer("seed", -(2**63), 2**64 - 1),
        "response_format": _of("response_format", dict, what="an object"),
        "user": _of("user", str, what="a string"),
        "reasoning_effort": _of("reasoning_effort", str, what="a string"),
        "stream": _of("stream", bool, what="true or false"),
        "stream_options": _of("stream_options", dict, what="an object"),
    }


def check_request(body: dict[str, Any], limits: Limits) -> None:
    """Every known field of a chat request has its type and range; raise a 400 otherwise.
    A null field counts as absent (the OpenAI SDK sends some as null)."""
    if "messages" not in body:
        raise invalid("a chat-completions request needs a non-empty 'messages' array", "messages")
    checks = _checks(limits)
    for name, check in checks.items():
        value = body.get(name)
        if value is not None or name == "messages":
            check(value)
    low, high = body.get("min_tokens"), completion_limit(body)
    if isinstance(low, int) and high is not None and low > high:
        raise invalid(f"'min_tokens' ({low}) is larger than max_tokens ({high})", "min_tokens")


def completion_limit(body: dict[str, Any]) -> int | None:
    """The most completion tokens a checked request may get: the larger of
    max_tokens and max_completion_tokens (backends differ in which wins)."""
    values = [body[k] for k in ("max_tokens", "max_completion_tokens") if body.get(k) is not None]
    return max(values) if values else None
