"""Helpers for the LLM room's tests: a gateway in front of a scripted model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from archive.repository import ArchiveRepository
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from llm.uds import http_client
from tests.support.scripted_server import ScriptedServer


def scripted_backend(server: ScriptedServer, name: str = "m", **overrides: Any) -> BackendConfig:
    """A backend pointing at the scripted server, with quick retries."""
    settings: dict[str, Any] = {
        "name": name,
        "model": "hosted_vllm/scripted",
        "api_base": server.base_url,
        "retry_backoff_s": 0.01,
        "retry_backoff_max_s": 0.05,
        "timeout_s": 30,
        **overrides,
    }
    return BackendConfig(**settings)


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def gateway_factory(short_tmp: Path) -> Iterator[GatewayFactory]:
    """Start gateways listening on a Unix socket (and loopback TCP); all are stopped at the end."""
    started: list[Gateway] = []

    def make(*backends: BackendConfig, repo: ArchiveRepository | None = None, **config: Any) -> Gateway:
        config.setdefault("socket_path", short_tmp / f"gw{len(started)}.sock")
        config.setdefault("tcp_port", 0)
        gateway = Gateway(GatewayConfig(backends=list(backends), **config), repo=repo).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@contextmanager
def caller(gateway: Gateway, token: str | None, *, over: str = "socket", timeout: float = 60) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway, as a sandbox (socket) or the platform (tcp) would hold."""
    from llm.uds import unix_base_url

    assert gateway.config.socket_path is not None
    base = unix_base_url(gateway.config.socket_path) if over == "socket" else gateway.base_url
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with http_client(base, timeout=timeout, headers=headers) as client:
        yield client


def ask(client: httpx.Client, text: str = "hello", model: str = "m", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/chat/completions", json=body)
