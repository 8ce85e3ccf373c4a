"""`clade serve` as a user starts it: the token made and printed once, a
login link printed on every start, loopback by default, a clear error for
a port in use, and the background starter `make demo` uses."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.auth import COOKIE_NAME, token_path
from api.server import free_port, start_background_server
from archive import CladeHome
from archive.errors import CladeError

CLADE = str(Path(sys.executable).with_name("clade"))


def _serve(port: int) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([CLADE, "serve", "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any("/login?code=" in line for line in lines):
        assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
        lines.append(process.stdout.readline())
    return process, lines


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(2)
    process.wait(15)


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_serve_prints_the_token_once_and_a_login_link_every_time(clade_home: CladeHome) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process, lines = _serve(port)
    try:
        text = "".join(lines)
        token = token_path(clade_home).read_text().strip()
        assert stat.S_IMODE(token_path(clade_home).stat().st_mode) == 0o600
        assert f"Clade is serving {url}" in text and token in text and "shown once" in text
        code = re.search(r"/login\?code=(\S+)", text).group(1)
        _wait_healthy(url)
        # loopback only by default
        assert _listening_addresses(port) == {"127.0.0.1"}
        with httpx.Client(base_url=url, timeout=30) as browser:
            login = browser.get(f"/login?code={code}")
            assert login.status_code == 303 and COOKIE_NAME in login.headers["set-cookie"]
            assert browser.get("/api/runs").status_code == 200
        assert httpx.get(f"{url}/api/runs", headers={"Authorization": f"Bearer {token}"}).json()["runs"] == []
    finally:
        _stop(process)
    log = "".join(lines) + (process.stdout.read() if process.stdout else "")
    assert f"code={code}" not in log.split("Open this login link", 1)[1].split("\n", 1)[1]  # access log redacted

    process, lines = _serve(port)
    try:
        text = "".join(lines)
        assert token not in text and "API token: in" in text
        assert re.search(r"/login\?code=(\S+)", text).group(1) != code
    finally:
        _stop(process)


def test_a_port_in_use_is_one_clear_error(clade_home: CladeHome) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([CLADE, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_start_background_server_for_make_demo(clade_home: CladeHome, tmp_path: Path) -> None:
    server = start_background_server(clade_home, log_path=tmp_path / "serve.log")
    try:
        assert server.alive() and server.url.startswith("http://127.0.0.1:")
        assert server.login_url == f"{server.url}/login?token={server.token}"
        assert httpx.get(f"{server.url}/api/runs", headers=server.headers).status_code == 200
        with httpx.Client(timeout=30) as browser:
            assert browser.get(server.login_url).status_code == 303
            assert browser.get(f"{server.url}/").status_code == 200
        assert server.token not in (tmp_path / "serve.log").read_text()  # never printed into the log
        try:
            server.start_run({"budget": {"task_evaluations": -1}})
        except CladeError as exc:
            assert "budget.task_evaluations" in str(exc)
        else:
            raise AssertionError("a bad config was accepted")
    finally:
        server.stop()
    assert not server.alive()
