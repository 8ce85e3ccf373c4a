"""Running the app: in the foreground (`clade serve`), or in the background
for `make demo` and tests (`start_background_server`).

    from api.server import start_background_server
    server = start_background_server()        # CLADE_HOME from the environment
    print(server.url, server.login_url)       # http://127.0.0.1:PORT, .../login?token=...
    ...                                       # server.headers for httpx/requests
    server.stop()
"""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from archive import CladeHome
from archive.errors import CladeError

if TYPE_CHECKING:
    from llm.config import BackendConfig

from api.auth import ensure_token
from api.errors import error_text
from api.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings

_SECRET_QUERY = re.compile(r"((?:token|code)=)[^&\s\"]+")


class RedactSecrets(logging.Filter):
    """Access-log lines must not keep login tokens or codes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CladeError(f"cannot listen on {host}:{port} ({exc.strerror}): "
                             "choose another port with --port, or stop what uses it") from None


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host in ("::", "::1") else host)
    return f"http://{shown}:{port}"


def serve(settings: ServerSettings, *, on_ready=None, log_level: str = "info") -> None:  # type: ignore[no-untyped-def]
    """Serve until interrupted. `on_ready(app)` runs after the app is built
    (`clade serve` prints the login link there)."""
    import uvicorn

    from api.app import create_app

    check_port_free(settings.host, settings.port)
    app = create_app(settings)
    if on_ready is not None:
        on_ready(app)
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    # Everything imported so far lives as long as the server: out of the collector's sight,
    # so neither a request nor the interpreter's last collection at Ctrl-C walks it (seconds).
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                timeout_graceful_shutdown=3, proxy_headers=False, server_header=False)


@dataclass
class BackgroundServer:
    url: str
    login_url: str
    token: str
    process: subprocess.Popen
    log_path: Path
    headers: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    # -- what `make demo` does with it, over HTTP ----------------------------------
    def client(self, timeout: float = 120.0):  # type: ignore[no-untyped-def]
        import httpx

        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def start_run(self, config: "Path | dict", overrides: list[str] = ()) -> dict:
        """POST /api/runs with a YAML run file (plus `--set`-style overrides) or
        a dict; returns the run. The file's backends are sent by name: the
        server must offer them (`start_background_server(backends=...)`). A
        config the server refuses raises CladeError naming each bad field."""
        from api.posted import as_posted
        from evolve.config import load_config

        body = as_posted(load_config(config, list(overrides))) if isinstance(config, Path) else config
        with self.client() as client:
            response = client.post("/api/runs", json=body)
        if response.status_code == 422:
            raise CladeError(f"the server refused the configuration: {error_text(response.json(), response.text)}")
        response.raise_for_status()
        return response.json()

    def wait(self, run_id: int, timeout: float | None = None, on_event=None) -> dict:  # type: ignore[no-untyped-def]
        """Follow the run's events until it stops for good and no engine drives
        it; `on_event(event_dict)` sees each event. Returns GET /api/runs/{id}."""
        deadline = None if timeout is None else time.monotonic() + timeout
        after = 0
        with self.client() as client:
            while True:
                events = client.get(f"/api/runs/{run_id}/event-log", params={"after": after}).json()
                for event in events["events"]:
                    if on_event is not None:
                        on_event(event)
                after = events["last_seq"]
                run = client.get(f"/api/runs/{run_id}").json()
                if run["status"] in ("finished", "failed", "cancelled", "interrupted") and not run["engine_alive"]:
                    if not client.get(f"/api/runs/{run_id}/event-log", params={"after": after}).json()["events"]:
                        return run
                if deadline is not None and time.monotonic() > deadline:
                    raise CladeError(f"run {run_id} did not stop within {timeout:.0f} s (it is {run['status']})")
                time.sleep(1.0)

    def export_best(self, run_id: int, dest: Path) -> Path:
        """GET /api/runs/{id}/best/export into `dest` (.tar.gz with clade-lineage.json)."""
        with self.client() as client, client.stream("GET", f"/api/runs/{run_id}/best/export") as response:
            if response.status_code != 200:
                response.read()
                raise CladeError(error_text(response.json(), f"export failed: HTTP {response.status_code}"))
            tmp = dest.with_name(f".{dest.name}.part")
            with tmp.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
            tmp.replace(dest)
        return dest

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (runs it started go on in their own processes)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_background_server(home: CladeHome | None = None, *, host: str = DEFAULT_HOST, port: int | None = None,
                            log_path: Path | None = None, timeout: float = 60.0,
                            extra_args: list[str] = (), backends: list[BackendConfig] | None = None
                            ) -> BackgroundServer:
    """Start `clade serve` as a child process and wait until it answers.

    Returns its URL, a login link for a browser, the token and headers for
    programs. Its output goes to `log_path` (default CLADE_HOME/serve.log).
    `backends`: the model backends it offers posted runs (written to
    CLADE_HOME/serve-backends.yaml for `--backends`); default: its own.
    """
    import httpx
    import yaml

    home = home or CladeHome.from_env()
    if backends is not None:
        listing = home.root / "serve-backends.yaml"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(yaml.safe_dump({"backends": [b.model_dump(mode="json") for b in backends]},
                                          sort_keys=False))
        extra_args = [*extra_args, "--backends", str(listing)]
    token, _created = ensure_token(home)  # made here, so the token is never printed into a log file
    port = port or free_port(host)
    log_path = log_path or home.root / "serve.log"
    env = {**os.environ, "CLADE_HOME": str(home.root)}
    command = [sys.executable, "-m", "api.cli.main", "serve", "--host", host, "--port", str(port), *extra_args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    url = base_url(host, port)
    server = BackgroundServer(url=url, login_url=f"{url}/login?token={token}", token=token, process=process,
                              log_path=log_path, headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise CladeError(f"clade serve exited with status {process.returncode}; its output ends with:\n{tail}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise CladeError(f"clade serve did not answer on {url} within {timeout:.0f} s; see {log_path}")
        time.sleep(0.2)


DEFAULTS = (DEFAULT_HOST, DEFAULT_PORT)
