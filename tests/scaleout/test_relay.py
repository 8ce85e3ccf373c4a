"""The gateway across machines without Ray: sandbox-side relay socket →
TCP bridge (with its secret) → the real gateway → a scripted model."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from evaluator.contract import AgentLimits, ModelAccess
from evaluator.task_run import EvalOptions
from evolve.relay import BridgeLink, GatewayBridge, Relay, ensure_relay, stop_relays
from evolve.units import EvaluateUnit, ExpandUnit
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from llm.uds import http_client, unix_base_url
from tests.support.script import Reply
from tests.support.scripted_server import ScriptedServer


@pytest.fixture
def gateway(tmp_path: Path):
    folder = Path("/tmp") / f"clade-test-gw-{tmp_path.name[-12:]}"
    folder.mkdir(exist_ok=True)
    with ScriptedServer(lambda request: Reply.text("pong " + str(len(request.messages[-1]["content"])))) as model:
        backend = BackendConfig(name="local", model="hosted_vllm/scripted", api_base=model.base_url, max_retries=0)
        with Gateway(GatewayConfig(backends=[backend], socket_path=folder / "llm.sock")) as gw:
            yield gw
    folder.rmdir()


def ask(socket_path: str, token: str, text: str = "ping") -> tuple[int, str]:
    with http_client(unix_base_url(socket_path), timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.post("/chat/completions", json={"model": "local",
                                                          "messages": [{"role": "user", "content": text}]})
    if response.status_code != 200:
        return response.status_code, response.text
    return 200, response.json()["choices"][0]["message"]["content"]


def test_a_sandbox_reaches_the_gateway_through_relay_and_bridge(gateway: Gateway, tmp_path: Path) -> None:
    bridge = GatewayBridge(gateway.config.socket_path, "127.0.0.1").start()
    try:
        relay_socket = ensure_relay(bridge.link)
        assert ensure_relay(bridge.link) == relay_socket  # one relay per worker process and bridge
        assert len(relay_socket) < 100 and oct(Path(relay_socket).stat().st_mode)[-3:] == "666"
        token = gateway.issue_token(run_id=None, purpose="solve")
        assert ask(relay_socket, token) == (200, "pong 4")
        # Per-sandbox tokens are still the gateway's to check.
        status, body = ask(relay_socket, "clade-not-a-token")
        assert status == 401 and "token" in body
        # Large bodies and many callers at once pass unchanged.
        assert ask(relay_socket, token, "x" * 1_000_000) == (200, "pong 1000000")
        results: list[tuple[int, str]] = []
        threads = [threading.Thread(target=lambda i=i: results.append(ask(relay_socket, token, "y" * i)))
                   for i in range(1, 21)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted((200, f"pong {i}") for i in range(1, 21))
        assert bridge.refused == 0
    finally:
        stop_relays()
        bridge.stop()


def test_the_bridge_refuses_connections_without_the_secret(gateway: Gateway, tmp_path: Path) -> None:
    bridge = GatewayBridge(gateway.config.socket_path, "127.0.0.1").start()
    wrong = Relay(BridgeLink(bridge.link.address, "not-the-secret"), tmp_path / "wrong.sock").start()
    try:
        token = gateway.issue_token(purpose="solve")
        with pytest.raises(Exception):  # closed before a byte reached the gateway
            ask(wrong.socket_path, token)
        # A plain HTTP client on the bridge's port gets nothing either.
        host, port = bridge.link.host_port()
        with socket.create_connection((host, port), timeout=15) as conn:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(100) == b""
        assert bridge.refused == 2
    finally:
        wrong.stop()
        bridge.stop()


def test_a_unit_moves_every_model_access_it_carries_to_the_relay(engine_tasks) -> None:
    """Each unit says where its model access is (no field is found by its name)."""
    def at(token: str) -> ModelAccess:
        return ModelAccess("/driver/llm.sock", "local", token)

    evaluation = EvaluateUnit(1, 2, engine_tasks[0], b"", EvalOptions(model=at("t1")))
    moved = evaluation.at_socket("/w/llm.sock")
    assert moved.options.model == ModelAccess("/w/llm.sock", "local", "t1")
    assert evaluation.options.model.socket_path == "/driver/llm.sock"  # the original is untouched
    expansion = ExpandUnit(1, 3, 2, b"", None, None, at("t2"), at("t3"), None, AgentLimits(), 60, 1000)  # type: ignore[arg-type]
    moved = expansion.at_socket("/w/llm.sock")
    assert moved.diagnosis.socket_path == moved.self_improve.socket_path == "/w/llm.sock"
    assert (moved.diagnosis.token, moved.self_improve.token) == ("t2", "t3")
    assert (evaluation.name, expansion.name) == ("clade-evaluate-1", "clade-expand-3")