"""Forwarding one chat request to a backend: through litellm, or directly to an
OpenAI-compatible server (llm.direct).

litellm speaks every provider (a local vLLM server as `hosted_vllm/NAME`,
OpenAI, Anthropic, OpenRouter, Ollama...). This module adds what the
gateway needs around `litellm.acompletion`: a concurrency limit per
backend, retries with exponential backoff on 429, 5xx, timeouts and
garbage, no retry on a context-length error, and one clear error for the
caller whatever went wrong (`GatewayError`, in OpenAI's error shape).

Only the OpenAI chat parameters are handed to litellm as arguments; any
other key of the request goes to the backend untouched in `extra_body`.
An agent can therefore never steer litellm itself (`api_base`, `api_key`,
callbacks...) from inside a sandbox. What the caller sees of a failure names
the backend by its gateway name only: URLs, hosts and keys are scrubbed
from every message (`scrub`), the full story goes to the gateway's log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import Any

# litellm must never fetch its price map from the network: set before import.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
# pydantic warns about one of litellm's own types whenever it builds its schema.
warnings.filterwarnings("ignore", message=".*is using the `ReadOnly` qualifier", category=UserWarning)
import litellm  # noqa: E402

from llm.budget import Usage  # noqa: E402
from llm.config import BackendConfig  # noqa: E402
from llm.direct import BackendFailure, DirectClient, direct_model  # noqa: E402

litellm.suppress_debug_info = True
logging.getLogger("LiteLLM").setLevel(logging.WARNING)  # one INFO line per call would flood the engine log
litellm.disable_hf_tokenizer_download = True  # offline: count tokens with the bundled tokenizer
log = logging.getLogger(__name__)

# Request keys that are litellm arguments with OpenAI's meaning; the rest
# travels in extra_body. "model", "stream" and "stream_options" are the
# gateway's own business.
OPENAI_CHAT_PARAMS = frozenset(
    {
        "messages", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "seed", "response_format", "user", "reasoning_effort",
    }
)  # fmt: skip
GATEWAY_KEYS = frozenset({"model", "stream", "stream_options"})
# Fixed overhead added to a prompt's byte count (chat template framing), and
# what a chat template adds once when it renders tools (its tool-use preamble).
PROMPT_OVERHEAD_TOKENS = 64
TOOLS_OVERHEAD_TOKENS = 512


@dataclass
class GatewayError(Exception):
    """An answer for the caller: HTTP status plus OpenAI's error body."""

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    param: str | None = None

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code or self.type}: {self.message}"

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


@dataclass(frozen=True)
class Completion:
    """A backend's answer, cleaned to the OpenAI shape, with its usage."""

    body: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    attempts: int


def forwarded_bytes(body: dict[str, Any]) -> int:
    """UTF-8 bytes of everything the gateway forwards of a request (every
    key but the gateway's own: messages, tools, functions, any extra)."""
    forwarded = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
    try:
        return len(json.dumps(forwarded, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise GatewayError(
            400, "the request holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair): "
            "send valid Unicode text", "invalid_request_error", "invalid_body",
        ) from None  # fmt: skip


def prompt_upper_bound(body: dict[str, Any], size: int | None = None) -> int:
    """An upper bound of the prompt's tokens without a tokenizer: a token
    (byte-level BPE, or SentencePiece with byte fallback) covers at least
    one byte, and the JSON of everything forwarded has more bytes than the
    text the model sees of it; plus the chat template's framing, and its
    tool-use preamble when the request has tools or functions."""
    if size is None:
        size = forwarded_bytes(body)
    tools = bool(body.get("tools")) or bool(body.get("functions"))
    return size + PROMPT_OVERHEAD_TOKENS + (TOOLS_OVERHEAD_TOKENS if tools else 0)


def completion_upper_bound(body: dict[str, Any], reserve: int) -> int:
    """max_tokens (the larger of it and max_completion_tokens) x the number of
    completions (n, best_of); `reserve` for a request that sets neither.
    Reads a request that llm.validate has checked."""
    limits = [body[k] for k in ("max_tokens", "max_completion_tokens") if isinstance(body.get(k), int)]
    limit = max(limits) if limits else reserve
    choices = max(body.get("n") or 1, body.get("best_of") or 1)
    return max(int(limit), 1) * max(int(choices), 1)


class Backend:
    """One configured backend: its prices, its concurrency limit, its retries."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.input_price, self.output_price = _prices(config)
        self._slots: asyncio.Semaphore | None = None  # made on the gateway's loop
        model = direct_model(config)  # an OpenAI-compatible server: no litellm on the way (llm.direct)
        self.direct = DirectClient(config, model) if model is not None else None

    def reset(self) -> None:
        """Forget loop-bound state (the gateway is starting on a new event loop)."""
        self._slots = None
        if self.direct is not None:
            self.direct.reset()

    async def close(self) -> None:
        if self.direct is not None:
            await self.direct.close()

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_concurrency)
        return self._slots

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_price + completion_tokens * self.output_price

    def worst_case(self, body: dict[str, Any], completion_reserve: int, size: int | None = None) -> Usage:
        """The most a checked request can spend: 1 call, its tokens, their price.
        `size`: forwarded_bytes(body), if already known."""
        prompt = prompt_upper_bound(body, size)
        completion = completion_upper_bound(body, completion_reserve)
        return Usage(calls=1, tokens=prompt + completion, usd=self.cost(prompt, completion))

    def arguments(self, body: dict[str, Any]) -> dict[str, Any]:
        """litellm arguments for this request: the backend's settings, the
        OpenAI parameters, everything else in extra_body."""
        cfg = self.config
        params = {k: v for k, v in body.items() if k in OPENAI_CHAT_PARAMS}
        extra = {k: v for k, v in body.items() if k not in OPENAI_CHAT_PARAMS and k not in GATEWAY_KEYS}
        kwargs: dict[str, Any] = {
            **cfg.litellm_kwargs,
            **params,
            "model": cfg.model,
            "timeout": cfg.timeout_s,
            "num_retries": 0,  # retries are ours (below), counted and logged
            "max_retries": 0,
        }
        if cfg.api_base:
            kwargs["api_base"] = cfg.api_base
        key = cfg.api_key()
        if key:
            kwargs["api_key"] = key
        if extra:
            kwargs["extra_body"] = {**(kwargs.get("extra_body") or {}), **extra}
        return kwargs

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Forward, retrying what may pass on a second try; raise GatewayError."""
        cfg = self.config
        if self.direct is not None:
            forwarded = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
        else:
            kwargs = self.arguments(body)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.slots:
                    if self.direct is not None:
                        answer = await self.direct.complete(forwarded)
                    else:
                        answer = (await litellm.acompletion(**kwargs)).model_dump()
                return self._completion(answer, attempt)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a GatewayError
                retryable, error = classify(exc, cfg)
                if not retryable or attempt > cfg.max_retries:
                    if attempt > 1:
                        error.message += f" (after {attempt} attempts)"
                    if not isinstance(exc, GatewayError):  # the operator's view: where, and litellm's own words
                        log.warning("backend %s (%s at %s) failed: %s: %s", cfg.name, cfg.model, cfg.api_base,
                                    type(exc).__name__, _mask_key(str(exc), cfg)[:2000])  # fmt: skip
                    raise error from None
                delay = _backoff(cfg, attempt, exc)
                log.warning("backend %s: %s; retry %d in %.2fs", cfg.name, error, attempt, delay)
                await asyncio.sleep(delay)

    def _completion(self, answer: dict[str, Any], attempts: int) -> Completion:
        body = clean_response(answer)
        if not body.get("choices"):
            raise GatewayError(
                502, f"backend {self.config.name!r} answered a chat completion with no choices", code="backend_error"
            )
        usage = body.get("usage") or {}
        prompt = max(int(usage.get("prompt_tokens") or 0), 0)
        completion = max(int(usage.get("completion_tokens") or 0), 0)
        return Completion(body, prompt, completion, self.cost(prompt, completion), attempts)


def _prices(config: BackendConfig) -> tuple[float, float]:
    """USD per token: the config's, else litellm's local price map, else 0
    (a local model costs nothing; a USD budget then never binds)."""
    if config.input_cost_per_token is not None or config.output_cost_per_token is not None:
        return config.input_cost_per_token or 0.0, config.output_cost_per_token or 0.0
    try:
        info = litellm.get_model_info(config.model)
    except Exception:  # noqa: BLE001 - unmapped models (every local one) raise
        return 0.0, 0.0
    return float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)


def _backoff(cfg: BackendConfig, attempt: int, exc: Exception) -> float:
    retry_after = _retry_after(exc)
    if retry_after is not None:
        return min(retry_after, cfg.retry_backoff_max_s)
    base = min(cfg.retry_backoff_s * 2 ** (attempt - 1), cfg.retry_backoff_max_s)
    return base * random.uniform(0.5, 1.0)  # jitter: retries of many callers do not march in step


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


# Keys litellm adds to the OpenAI shape that are null or its own business.
_NOISE_IF_NONE = {
    "function_call", "tool_calls", "audio", "reasoning_content", "thinking_blocks", "annotations",
    "completion_tokens_details", "prompt_tokens_details", "system_fingerprint", "service_tier",
}  # fmt: skip


def clean_response(data: Any) -> Any:
    """The response without litellm's `provider_specific_fields` and null extras."""
    if isinstance(data, dict):
        return {
            k: clean_response(v)
            for k, v in data.items()
            if k != "provider_specific_fields" and not (v is None and k in _NOISE_IF_NONE)
        }
    if isinstance(data, list):
        return [clean_response(v) for v in data]
    return data


def backend_message(exc: Exception) -> str:
    """The backend's own error message when litellm wrapped a JSON error body."""
    text = str(getattr(exc, "message", None) or exc)
    start = text.find("{")
    if start >= 0:
        try:
            data = json.loads(text[start:])
            error = data.get("error", data) if isinstance(data, dict) else None
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])
            if isinstance(error, str):
                return error
            if isinstance(data, dict) and data.get("detail"):
                return str(data["detail"])
        except ValueError:
            pass
    for marker in ("Exception - ", "Error: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip()[:1000]


_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\[[0-9A-Fa-f:]*:[0-9A-Fa-f:]*\](?::\d{1,5})?")
_HOST_PORT = re.compile(r"\b(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{1,5}\b")
HIDDEN = "[backend]"


def _mask_key(text: str, cfg: BackendConfig) -> str:
    key = cfg.api_key()
    return text.replace(key, "[the gateway's key]") if key else text


def scrub(text: str, cfg: BackendConfig) -> str:
    """`text` without the backend's URL, host, port or key (litellm's messages
    quote them: "Cannot connect to host 127.0.0.1:8000", "... api_base=..."):
    what a sandbox may read of a backend failure."""
    text = _mask_key(text, cfg)
    if cfg.api_base:
        parsed = urllib.parse.urlsplit(cfg.api_base)
        for part in sorted({cfg.api_base, cfg.api_base.rstrip("/"), parsed.netloc, parsed.hostname or ""},
                           key=len, reverse=True):  # fmt: skip
            if len(part) >= 3:
                text = text.replace(part, HIDDEN)
    text = _URL.sub(HIDDEN, text)
    text = _IP.sub(HIDDEN, text)
    return _HOST_PORT.sub(HIDDEN, text)


def _litellm_kind(exc: Exception, message: str) -> str:
    """litellm's exception classes as failure kinds. Order matters: they inherit from
    each other (a timeout is a connection error, a context-window error is a bad request)."""
    status = getattr(exc, "status_code", None)
    lowered = message.lower()
    checks = (
        (isinstance(exc, litellm.ContextWindowExceededError), "context"),
        (isinstance(exc, litellm.Timeout), "timeout"),
        (isinstance(exc, litellm.RateLimitError), "rate_limit"),
        (isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)) or status in (401, 403), "auth"),
        (isinstance(exc, litellm.NotFoundError) or status == 404, "not_found"),
        (isinstance(exc, (litellm.BadRequestError, litellm.UnprocessableEntityError)) or status in (400, 422),
         "bad_request"),
        (isinstance(exc, litellm.APIConnectionError) or "cannot connect" in lowered or "connection refused" in lowered,
         "unreachable"),
        ("json" in lowered or "choices" in lowered, "garbage"),
    )
    return next((kind for matched, kind in checks if matched), "other")


def classify(exc: Exception, cfg: BackendConfig) -> tuple[bool, GatewayError]:
    """(retry it?, the error for the caller). The caller's message names the
    backend by its gateway name only, never its URL, host or key."""
    if isinstance(exc, GatewayError):  # an answer we could not use (no choices): retry it
        return True, exc
    if isinstance(exc, BackendFailure):
        kind, message = exc.kind, scrub(exc.message, cfg)
    else:
        message = scrub(backend_message(exc), cfg)
        kind = _litellm_kind(exc, message)
    where = f"backend {cfg.name!r}"
    if kind == "context":
        return False, GatewayError(
            400,
            f"the prompt does not fit the model's context window: {message} — shorten the conversation",
            "invalid_request_error",
            "context_length_exceeded",
        )
    if kind == "timeout":
        return True, GatewayError(504, f"{where} did not answer within {cfg.timeout_s:g} s", code="backend_timeout")
    if kind == "rate_limit":
        return True, GatewayError(
            429, f"{where} is rate-limiting: {message}", "rate_limit_error", "rate_limit_exceeded"
        )
    if kind == "auth":
        fix = f"set {cfg.api_key_env} in the gateway's environment" if cfg.api_key_env else "set api_key_env"
        return False, GatewayError(
            502, f"{where} refused the gateway's credentials ({message}): {fix}", code="backend_auth_error"
        )
    if kind == "not_found":
        return False, GatewayError(
            502,
            f"{where} does not serve this model ({message}): check the backend's model string",
            code="backend_error",
        )
    if kind == "bad_request":
        return False, GatewayError(400, f"{where} rejected the request: {message}", "invalid_request_error")
    if kind == "unreachable":
        return True, GatewayError(
            503,
            f"cannot reach {where}: {message} — is the model server running? (`clade llm status`)",
            code="backend_unavailable",
        )
    if kind == "garbage":
        return True, GatewayError(502, f"{where} answered with something that is not a chat completion: {message}",
                                  code="backend_error")  # fmt: skip
    return True, GatewayError(502, f"{where} failed: {message}", code="backend_error")


async def stop_litellm_worker() -> None:
    """litellm runs a logging task on the loop of its first call; stop it
    before that loop closes."""
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        await GLOBAL_LOGGING_WORKER.stop()
    except Exception:  # noqa: BLE001 - best effort: an internal of litellm's
        log.debug("could not stop litellm's logging worker", exc_info=True)
