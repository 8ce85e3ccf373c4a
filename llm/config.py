"""The gateway's configuration: which backends, which limits, where to listen.

A plain pydantic model with defaults that work on a fresh machine: one
backend, the local vLLM server that `clade llm serve` starts, no budgets.
The platform builds it from a run's config; tests build it by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What `clade llm serve` serves by default, and where (see llm.local_server).
LOCAL_MODEL_NAME = "smollm2-135m-instruct"
LOCAL_API_BASE = "http://127.0.0.1:8000/v1"


class Budget(BaseModel):
    """Limits of one run or one evaluation; None means no limit.

    `tokens` counts prompt plus completion tokens. A call is let through
    only while its worst case still fits (see llm.budget), so that a budget
    holds exactly however many callers share it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(default=None, ge=0)
    usd: float | None = Field(default=None, ge=0)
    calls: int | None = Field(default=None, ge=0)

    @property
    def unlimited(self) -> bool:
        return self.tokens is None and self.usd is None and self.calls is None


class BackendConfig(BaseModel):
    """One model the gateway serves, and how to reach it through litellm."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="local", description="the model name clients send (CLADE_MODEL)")
    model: str = Field(
        default=f"hosted_vllm/{LOCAL_MODEL_NAME}",
        description="litellm model string: hosted_vllm/NAME, openai/gpt-4o, anthropic/..., openrouter/..., ollama/...",
    )
    api_base: str | None = Field(default=LOCAL_API_BASE, description="the backend's base URL, if not the provider's")
    api_key_env: str | None = Field(
        default=None,
        description="name of the environment variable (of the gateway's process) that holds the key; "
        "the key itself never appears in a config, a log or a sandbox",
    )
    max_concurrency: int = Field(default=8, ge=1, description="calls in flight to this backend at once")
    timeout_s: float = Field(default=600.0, gt=0, description="one attempt's limit")
    max_retries: int = Field(default=3, ge=0, description="retries on 429, 5xx, timeouts and garbage")
    retry_backoff_s: float = Field(default=0.5, ge=0, description="first retry's wait; doubles each time")
    retry_backoff_max_s: float = Field(default=20.0, ge=0)
    input_cost_per_token: float | None = Field(default=None, ge=0, description="USD; default: litellm's price map")
    output_cost_per_token: float | None = Field(default=None, ge=0)
    litellm_kwargs: dict[str, object] = Field(default_factory=dict, description="extra arguments to acompletion")
    transport: Literal["auto", "litellm"] = Field(
        default="auto",
        description="auto: an OpenAI-compatible server (hosted_vllm/..., openai/... with api_base) is called "
        "directly, without litellm's per-call work (llm.direct); litellm: always through litellm",
    )

    def api_key(self) -> str | None:
        """The key, read from the gateway's environment at call time."""
        if self.api_key_env is None:
            return None
        return os.environ.get(self.api_key_env)


class GatewayConfig(BaseModel):
    """Everything the gateway needs; every field has a working default."""

    model_config = ConfigDict(extra="forbid")

    backends: list[BackendConfig] = Field(default_factory=lambda: [BackendConfig()])
    socket_path: Path | None = Field(
        default=None, description="Unix socket to listen on (mounted into sandboxes); None: no socket"
    )
    tcp_host: str = "127.0.0.1"
    tcp_port: int | None = Field(default=None, ge=0, le=65535, description="loopback TCP port; None: no TCP, 0: any")
    run_budget: Budget = Field(default_factory=Budget, description="default limits of every run")
    evaluation_budget: Budget = Field(default_factory=Budget, description="default limits of every evaluation")
    completion_reserve_tokens: int = Field(
        default=1024,
        ge=1,
        description="completion tokens reserved against a token budget for a request that sets no max_tokens "
        "(and forwarded as its max_tokens while a token or USD budget applies)",
    )

    # -- what a request may be (everything from a sandbox is hostile; see "Hostile requests" in README.md)
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="largest request body; larger: HTTP 413, read no further"
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="request line plus headers; larger: HTTP 431 and the connection closed"
    )
    max_json_depth: int = Field(default=64, ge=4, le=512, description="deepest nesting of arrays/objects in a body")
    max_completion_tokens: int = Field(
        default=131_072, ge=1, description="ceiling of a request's max_tokens / max_completion_tokens"
    )
    max_choices: int = Field(default=4, ge=1, description="largest n (and vLLM's best_of) a request may ask for")

    # -- connections (a sandbox may open as many as it likes; the gateway must stay up for everyone else)
    max_connections: int = Field(
        default=512, ge=1, description="open connections on the Unix socket, all sandboxes together"
    )
    max_connections_per_peer: int = Field(
        default=64, ge=1, description="open connections on the Unix socket per connecting process (SO_PEERCRED pid)"
    )
    max_tcp_connections: int = Field(default=256, ge=1, description="open connections on the loopback TCP port")
    listen_backlog: int = Field(
        default=4096, ge=16, le=65535,
        description="connections the kernel queues before the gateway accepts them (capped by net.core.somaxconn); "
        "a burst beyond it gets EAGAIN at connect",
    )  # fmt: skip
    request_timeout_s: float = Field(
        default=15.0, gt=0, description="time for a request (line, headers and body) to arrive in full"
    )
    keep_alive_s: float = Field(default=15.0, gt=0, description="how long an idle keep-alive connection stays open")
    max_requests_per_token: int = Field(
        default=16, ge=1,
        description="requests of one token in the gateway at once; more: HTTP 429 (an agent needs 1; "
        "bench/gateway_overhead.py runs 16 callers on one token)",
    )  # fmt: skip

    @field_validator("tcp_host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        # The gateway holds provider keys and trusts its tokens: it is no
        # service for the network.
        if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
            raise ValueError(f"tcp_host {host!r} is not a loopback address: the gateway only listens on loopback")
        return host

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        if not self.backends:
            raise ValueError("the gateway needs at least one backend")
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be unique, got {names}")
        return self

    def backend(self, name: str | None) -> BackendConfig | None:
        """The backend a request names; the first one when it names none."""
        if not name:
            return self.backends[0]
        return next((b for b in self.backends if b.name == name), None)
