"""The command line contract the platform relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.tests.fake_model import FakeModel, tool_call

AGENT_PARENT = Path(__file__).resolve().parents[2]  # the folder that holds `agent/`


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(AGENT_PARENT), **env}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_writes_the_three_files(buggy_repo: Path, tmp_path: Path) -> None:
    problem = tmp_path / "problem.md"
    problem.write_text("add() subtracts")
    fix = {"command": "str_replace", "path": "calc.py", "old": "a - b", "new": "a + b"}
    with FakeModel([tool_call("editor", fix), tool_call("finish", {"summary": "fixed"})]) as model:
        env = {"CLADE_LLM_BASE_URL": model.url, "CLADE_MODEL": "m", "CLADE_LLM_TOKEN": "t"}
        result = run_cli(["--problem", str(problem), "--repo", str(buggy_repo), "--out", str(tmp_path / "out")], env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert "+    return a + b" in (out / "patch.diff").read_text()
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"
    kinds = [json.loads(line)["type"] for line in (out / "trajectory.jsonl").read_text().splitlines()]
    assert kinds[:2] == ["message", "message"] and kinds[-1] == "summary"


def test_cli_explains_missing_configuration(buggy_repo: Path, tmp_path: Path) -> None:
    env = {"CLADE_LLM_BASE_URL": "", "CLADE_MODEL": ""}
    result = run_cli(["--problem", str(tmp_path / "nope.md"), "--repo", str(buggy_repo), "--out", str(tmp_path / "out")], env)
    assert result.returncode == 2
    assert "CLADE_LLM_BASE_URL is not set" in result.stderr and "nope.md does not exist" in result.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "error"


def test_unix_socket_base_url(buggy_repo: Path, tmp_path: Path) -> None:
    """The gateway is reached over a Unix socket inside the sandbox."""
    import socket
    import threading
    import urllib.parse

    sock_path = tmp_path / "llm.sock"
    with FakeModel([tool_call("finish", {"summary": "done"})]) as model:
        port = int(model.url.split(":")[2].split("/")[0])
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(sock_path))
        server.listen()

        def relay() -> None:  # unix socket -> the TCP fake model, one connection at a time
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                upstream = socket.create_connection(("127.0.0.1", port))
                threading.Thread(target=lambda: _pipe(upstream, conn), daemon=True).start()
                _pipe(conn, upstream)

        threading.Thread(target=relay, daemon=True).start()
        problem = tmp_path / "p.md"
        problem.write_text("x")
        url = f"http+unix://{urllib.parse.quote(str(sock_path), safe='')}/v1"
        result = run_cli(["--problem", str(problem), "--repo", str(buggy_repo), "--out", str(tmp_path / "out")],
                         {"CLADE_LLM_BASE_URL": url, "CLADE_MODEL": "m"})
        server.close()
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "finished"
    assert len(model.requests) == 1


def _pipe(src, dst) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(1)
    except OSError:
        pass
