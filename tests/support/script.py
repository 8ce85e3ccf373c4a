"""What the scripted model server answers: replies, rules and scripts.

Tests of the gateway and of agents need a model whose every answer is known
in advance, including the bad ones (malformed tool calls, errors, garbage,
hangs). A `Script` decides the reply to each chat request:

1. rules, in order: the first whose condition matches the request (and
   that has uses left) answers;
2. otherwise the next reply of the queue, in order;
3. otherwise the default reply; with none, HTTP 500 "script exhausted", so
   that a test notices an agent that calls the model more than expected.

A plain Python callable `(ChatRequest) -> Reply | dict | str` can stand in
for a whole script. Scripts load from JSON (`Script.from_json`) so that the
server can also run as a subprocess (for an agent inside a sandbox).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm import wire


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request as a script sees it."""

    body: dict[str, Any]
    headers: Mapping[str, str]
    index: int  # 0 for the first chat request this server received

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def last_message(self) -> dict[str, Any]:
        return self.messages[-1] if self.messages else {}

    @property
    def last_text(self) -> str:
        return wire.text_of(self.last_message)

    @property
    def model(self) -> str:
        return str(self.body.get("model") or "")

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.body.get("tools") or []


@dataclass(frozen=True)
class Reply:
    """One answer of the scripted model. Build them with the class methods.

    `status` other than 200 sends `error` (OpenAI's error shape) or `raw`;
    `raw` sends those bytes as the body whatever the status (garbage);
    `disconnect` closes the connection without any answer; `delay_s` waits
    first (a slow model). `usage` overrides the counted tokens.
    """

    content: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    finish_reason: str | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    raw: str | None = None
    disconnect: bool = False
    delay_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    echo: bool = False  # answer with the text of the request's last message

    # -- constructors --------------------------------------------------------
    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def empty(cls, **kw: Any) -> Reply:
        """An answer with no text and no tool call (it happens)."""
        return cls(content="", **kw)

    @classmethod
    def echo_last(cls, **kw: Any) -> Reply:
        return cls(echo=True, **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: Any = None, *, content: str | None = None, **kw: Any) -> Reply:
        call = wire.tool_call(name, {} if arguments is None else arguments)
        return cls(content=content, tool_calls=(call,), **kw)

    @classmethod
    def tool_calls_(cls, calls: Iterable[tuple[str, Any]], *, content: str | None = None, **kw: Any) -> Reply:
        return cls(content=content, tool_calls=tuple(wire.tool_call(n, a) for n, a in calls), **kw)

    @classmethod
    def malformed_tool_call(cls, name: str = "bash", arguments: str = '{"command": "ls', **kw: Any) -> Reply:
        """A tool call whose `arguments` is not valid JSON (truncated by default)."""
        return cls(content=None, tool_calls=(wire.tool_call(name, arguments),), **kw)

    @classmethod
    def http_error(
        cls, status: int, message: str, type_: str = "server_error", code: str | None = None, **kw: Any
    ) -> Reply:
        return cls(status=status, error=wire.error_body(message, type_, code), **kw)

    @classmethod
    def server_error(cls, message: str = "scripted internal server error", **kw: Any) -> Reply:
        return cls.http_error(500, message, "server_error", **kw)

    @classmethod
    def rate_limited(cls, message: str = "scripted rate limit: slow down", retry_after: float | None = None) -> Reply:
        headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        return cls.http_error(429, message, "rate_limit_error", "rate_limit_exceeded", headers=headers)

    @classmethod
    def context_length_exceeded(cls, message: str | None = None, **kw: Any) -> Reply:
        return cls(status=400, error=wire.context_length_error(message), **kw)

    @classmethod
    def garbage(cls, body: str = "<html><body>502 Bad Gateway</body></html>", status: int = 200) -> Reply:
        """A body that is not JSON at all (a proxy's HTML page, a crash)."""
        return cls(status=status, raw=body)

    @classmethod
    def hang_up(cls) -> Reply:
        """Close the connection without answering (a crashed backend)."""
        return cls(disconnect=True)

    # -- JSON ----------------------------------------------------------------
    @classmethod
    def from_obj(cls, obj: ReplyLike) -> Reply:
        """A Reply from a Reply, a string (a text answer) or a JSON dict.

        Dict keys: content, tool_calls ([{name, arguments, id?}]; string
        arguments are sent as they are), finish_reason, status, error (a
        dict `{message, type, code}` or one of "server_error",
        "rate_limit", "context_length"), raw, disconnect, delay_s, usage
        ({prompt_tokens, completion_tokens}), headers, echo.
        """
        if isinstance(obj, Reply):
            return obj
        if isinstance(obj, str):
            return cls.text(obj)
        if not isinstance(obj, Mapping):
            raise TypeError(f"a scripted reply must be a Reply, a string or a dict, not {type(obj).__name__}")
        unknown = set(obj) - _REPLY_KEYS
        if unknown:
            raise ValueError(
                f"unknown keys in scripted reply {dict(obj)!r}: {sorted(unknown)}; use {sorted(_REPLY_KEYS)}"
            )
        kw: dict[str, Any] = {}
        status = int(obj.get("status", 200))
        error = obj.get("error")
        if isinstance(error, str):
            shortcut = _ERROR_SHORTCUTS.get(error)
            if shortcut is None:
                raise ValueError(f"unknown error shortcut {error!r}: use one of {sorted(_ERROR_SHORTCUTS)}")
            status, body = shortcut
            error = body
        elif isinstance(error, Mapping):
            error = error if "error" in error else {"error": {"type": "server_error", "code": None, **error}}
            if status == 200:
                status = 500
        if "usage" in obj:
            kw["prompt_tokens"] = obj["usage"].get("prompt_tokens")
            kw["completion_tokens"] = obj["usage"].get("completion_tokens")
        calls = tuple(
            wire.tool_call(c["name"], c.get("arguments", {}), c.get("id")) for c in obj.get("tool_calls") or ()
        )
        return cls(
            content=obj.get("content"),
            tool_calls=calls,
            finish_reason=obj.get("finish_reason"),
            status=status,
            error=error,
            raw=obj.get("raw"),
            disconnect=bool(obj.get("disconnect", False)),
            delay_s=float(obj.get("delay_s", 0.0)),
            headers=tuple((str(k), str(v)) for k, v in (obj.get("headers") or {}).items()),
            echo=bool(obj.get("echo", False)),
            **kw,
        )


_REPLY_KEYS = {
    "content", "tool_calls", "finish_reason", "status", "error", "raw",
    "disconnect", "delay_s", "usage", "headers", "echo",
}  # fmt: skip
_ERROR_SHORTCUTS: dict[str, tuple[int, dict[str, Any]]] = {
    "server_error": (500, wire.error_body("scripted internal server error", "server_error")),
    "rate_limit": (429, wire.error_body("scripted rate limit: slow down", "rate_limit_error", "rate_limit_exceeded")),
    "context_length": (400, wire.context_length_error()),
}

ReplyLike = Reply | str | Mapping[str, Any]
Responder = Callable[[ChatRequest], "ReplyLike | None"]


@dataclass(frozen=True)
class Match:
    """A rule's condition; every field given must hold (all-of)."""

    last_contains: str | None = None  # substring of the last message's text
    last_matches: str | None = None  # regular expression searched in it
    last_role: str | None = None  # e.g. "tool": the agent just ran a tool
    any_contains: str | None = None  # substring of any message's text
    model: str | None = None
    has_tools: bool | None = None

    def __call__(self, request: ChatRequest) -> bool:
        text = request.last_text
        checks = (
            self.last_contains is None or self.last_contains in text,
            self.last_matches is None or re.search(self.last_matches, text) is not None,
            self.last_role is None or request.last_message.get("role") == self.last_role,
            self.any_contains is None or any(self.any_contains in wire.text_of(m) for m in request.messages),
            self.model is None or request.model == self.model,
            self.has_tools is None or bool(request.tools) == self.has_tools,
        )
        return all(checks)


@dataclass
class Rule:
    """Answer `reply` to requests for which `when` holds, at most `times` times."""

    when: Callable[[ChatRequest], bool]
    reply: ReplyLike | Responder
    times: int | None = None

    def take(self, request: ChatRequest) -> ReplyLike | Responder | None:
        """The reply if the rule applies (and consume one use); caller holds the lock."""
        if self.times is not None and self.times <= 0:
            return None
        if not self.when(request):
            return None
        if self.times is not None:
            self.times -= 1
        return self.reply


@dataclass
class Script:
    """Rules, then a queue of replies, then a default (see the module doc)."""

    replies: Sequence[ReplyLike | Responder] = ()
    rules: Sequence[Rule] = ()
    default: ReplyLike | Responder | None = None
    _queue: deque[ReplyLike | Responder] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._queue = deque(self.replies)
        self.rules = list(self.rules)

    def add(self, *replies: ReplyLike | Responder) -> None:
        """Queue more replies (a test can extend the script while it runs)."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    def next_reply(self, request: ChatRequest) -> Reply:
        with self._lock:
            chosen: ReplyLike | Responder | None = None
            for rule in self.rules:
                chosen = rule.take(request)
                if chosen is not None:
                    break
            if chosen is None and self._queue:
                chosen = self._queue.popleft()
            if chosen is None:
                chosen = self.default
        if callable(chosen):  # a responder runs outside the lock: it may be slow
            chosen = chosen(request)
        if chosen is None:
            return Reply.http_error(
                500,
                f"the scripted model has no reply for chat request #{request.index}: "
                "add replies, a rule or a default to its script",
                "server_error",
                "script_exhausted",
            )
        return Reply.from_obj(chosen)

    # -- JSON ----------------------------------------------------------------
    @classmethod
    def from_obj(cls, obj: Any) -> Script:
        """A script from JSON data: a list of replies, or a dict with
        `replies`, `rules` ([{when: {last_contains, last_matches, last_role,
        any_contains, model, has_tools}, reply, times?}]) and `default`."""
        if isinstance(obj, list):
            obj = {"replies": obj}
        if not isinstance(obj, Mapping):
            raise ValueError("a script is a JSON list of replies or an object with replies/rules/default")
        unknown = set(obj) - {"replies", "rules", "default", "models", "api_key"}
        if unknown:
            raise ValueError(f"unknown keys in script: {sorted(unknown)}; use replies, rules, default, models, api_key")
        rules = [
            Rule(when=Match(**r.get("when", {})), reply=Reply.from_obj(r["reply"]), times=r.get("times"))
            for r in obj.get("rules") or ()
        ]
        default = obj.get("default")
        return cls(
            replies=[Reply.from_obj(r) for r in obj.get("replies") or ()],
            rules=rules,
            default=Reply.from_obj(default) if default is not None else None,
        )

    @classmethod
    def from_json(cls, path: str | Path) -> Script:
        return cls.from_obj(json.loads(Path(path).read_text()))


ScriptLike = Script | Sequence[ReplyLike] | Responder


def as_script(script: ScriptLike | None) -> Script:
    """Whatever a test passes (a Script, a list of replies, a callable) as a Script."""
    if script is None:
        return Script()
    if isinstance(script, Script):
        return script
    if callable(script):
        return Script(default=script)
    if isinstance(script, (str, Mapping, Reply)):
        return Script(replies=[script])
    return Script(replies=list(script))
