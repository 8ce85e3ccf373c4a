"""Attacks on the API by a client that holds the token, over real HTTP
(uvicorn on a loopback port): run configs that would send the server's
environment to a URL of theirs, read the server's files, or ask for
unbounded resources; bodies that would fill the server's memory; event
streams that would starve everybody else. Each is refused with a JSON
error, leaves the archive untouched and reaches nobody's listener."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.backends import BackendRegistry, load_backends
from archive import Archive, CladeHome, RunStatus
from llm.config import BackendConfig
from tests.api.conftest import wait_for
from tests.api.populate import populate_run


class Listener:
    """A real TCP server on 127.0.0.1 that records every byte anyone sends it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.settimeout(1)
            with conn:
                with contextlib.suppress(OSError):
                    while chunk := conn.recv(65536):
                        self.received += chunk

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


SECRET_ENV = "CLADE_HOME"  # what the attack of the issue sent: any variable of the server's will do


def hostile_backends(listener: Listener) -> list[tuple[str, object]]:
    """Backends entries an attacker posts, each with the field it smuggles in."""
    url = listener.url
    return [
        ("api_key_env", {"name": "local", "api_key_env": SECRET_ENV, "api_base": url}),
        ("api_base", {"name": "local", "api_base": url}),
        ("litellm_kwargs", {"name": "local", "litellm_kwargs": {"extra_headers": {"X-Leak": "yes"}, "api_base": url}}),
        ("headers", {"name": "local", "headers": {"Authorization": "Bearer x"}}),
        ("model", {"name": "local", "model": "openai/gpt-4o"}),
        ("a new backend", {"name": "evil", "model": "openai/gpt-4o", "api_base": url, "api_key_env": SECRET_ENV,
                           "litellm_kwargs": {"extra_headers": {"X-Injected": "1"}}}),
        ("a number", 7),
        ("a list", [["local"]]),
    ]


def assert_untouched(archive: Archive, server, listener: Listener | None = None) -> None:  # type: ignore[no-untyped-def]
    assert archive.repo.list_runs() == [], "a refused config created a run"
    assert server.launched == [], "a refused config started an engine"
    if listener is not None:
        time.sleep(0.3)
        assert listener.connections == 0 and listener.received == b"", listener.received[:500]


def error_fields(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert all(e["loc"][0] == "body" for e in detail)
    return {e["field"]: e["msg"] for e in detail}


# -- backends: names from the server's registry only ------------------------------
def test_posted_backends_cannot_name_keys_urls_or_arguments(serve_app, archive: Archive, listener: Listener) -> None:
    server = serve_app()
    with server.client() as client:
        for what, entry in hostile_backends(listener):
            response = client.post("/api/runs", json={"name": "steal", "models": {"backends": [entry]}})
            assert response.status_code == 422, (what, response.text)
            fields = error_fields(response)
            assert "models.backends.0" in fields, (what, fields)
            message = fields["models.backends.0"]
            assert "by its name" in message and "clade serve --backends" in message, (what, message)
            # the same entries as a list next to a good name, and with the roles pointing at them
            mixed = client.post("/api/runs", json={"models": {"backends": ["local", entry], "solve": "evil"}})
            assert mixed.status_code == 422 and "models.backends.1" in error_fields(mixed), what
    assert_untouched(archive, server, listener)


def test_roles_and_names_must_be_the_servers(serve_app, archive: Archive, listener: Listener) -> None:
    server = serve_app()
    with server.client() as client:
        unknown = client.post("/api/runs", json={"models": {"backends": ["evil"]}})
        assert unknown.status_code == 422
        message = error_fields(unknown)["models.backends.0"]
        assert "'evil' is not one this server offers" in message and "['local']" in message
        for role in ("solve", "self_improve", "diagnosis"):
            refused = client.post("/api/runs", json={"models": {role: "evil"}})
            assert refused.status_code == 422 and "this server does not offer" in error_fields(refused)[f"models.{role}"]
        twice = client.post("/api/runs", json={"models": {"backends": ["local", "local"]}})
        assert "listed twice" in error_fields(twice)["models.backends.1"]
        empty = client.post("/api/runs", json={"models": {"backends": []}})
        assert empty.status_code == 422 and "models.backends" in error_fields(empty)
        long_name = client.post("/api/runs", json={"models": {"backends": ["x" * 5000]}})
        assert long_name.status_code == 422 and "models.backends.0" in error_fields(long_name)
    assert_untouched(archive, server, listener)


def test_a_config_naming_a_registry_backend_is_stored_with_the_registrys_backend(
        serve_app, archive: Archive, listener: Listener) -> None:
    hosted = BackendConfig(name="hosted", model="openai/some-model", api_base="http://10.0.0.1:9/v1",
                           api_key_env="HOSTED_KEY", litellm_kwargs={"temperature": 0.2}, max_concurrency=3)
    registry = BackendRegistry([BackendConfig(), hosted])
    server = serve_app(backends=registry)
    with server.client() as client:
        named = client.post("/api/runs?start=false", json={
            "name": "named", "models": {"backends": ["hosted"], "solve": "hosted", "self_improve": "hosted",
                                        "diagnosis": "hosted"}})
        assert named.status_code == 201, named.text
        stored = archive.repo.get_run(named.json()["id"]).config["models"]
        assert stored["backends"] == [hosted.model_dump(mode="json")]
        assert (stored["solve"], stored["self_improve"], stored["diagnosis"]) == ("hosted",) * 3
        assert named.json()["config"]["models"]["backends"] == [hosted.model_dump(mode="json")]

        # backends left out: the server fills in those the roles name; roles left out: its first backend
        filled = client.post("/api/runs?start=false", json={"name": "filled", "models": {"diagnosis": "hosted"}})
        assert filled.status_code == 201, filled.text
        models = archive.repo.get_run(filled.json()["id"]).config["models"]
        assert [b["name"] for b in models["backends"]] == ["local", "hosted"]
        assert models["backends"] == [BackendConfig().model_dump(mode="json"), hosted.model_dump(mode="json")]
        assert (models["solve"], models["diagnosis"]) == ("local", "hosted")

        # {"name": NAME} is a name too
        as_object = client.post("/api/runs?start=false", json={"models": {"backends": [{"name": "local"}]}})
        assert as_object.status_code == 201, as_object.text
        # and the role must be among the listed backends
        unlisted = client.post("/api/runs", json={"models": {"backends": ["local"], "solve": "hosted"}})
        assert unlisted.status_code == 422 and "lists only" in error_fields(unlisted)["models.solve"]
    assert len(archive.repo.list_runs()) == 3 and server.launched == []
    assert listener.connections == 0


def test_a_backends_file_is_the_registry(tmp_path: Path) -> None:
    listing = tmp_path / "backends.yaml"
    listing.write_text("backends:\n  - name: claude\n    model: anthropic/claude-sonnet-4-5\n    api_base: null\n"
                       "    api_key_env: ANTHROPIC_API_KEY\n  - name: local\n")
    registry = load_backends(listing)
    assert registry.names == ["claude", "local"] and registry.default_name == "claude"
    assert registry["claude"].api_key_env == "ANTHROPIC_API_KEY"
    listing.write_text("- name: a\n- name: a\n")
    with pytest.raises(Exception, match="listed twice"):
        load_backends(listing)
    listing.write_text("backends:\n  - name: a\n    no_such_field: 1\n")
    with pytest.raises(Exception, match="no_such_field"):
        load_backends(listing)
    with pytest.raises(Exception, match="cannot read"):
        load_backends(tmp_path / "missing.yaml")


# -- files of the server --------------------------------------------------------------
def test_posted_configs_cannot_read_server_files(serve_app, archive: Archive, clade_home: CladeHome,
                                                 tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"instance_id": "x"}\n')
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    clade_home.root.mkdir(parents=True, exist_ok=True)
    (clade_home.root / "escape").symlink_to(outside, target_is_directory=True)
    server = serve_app(allowed_dirs=[allowed])
    with server.client() as client:
        for folder in ("/etc", str(clade_home.root), str(allowed), "relative"):
            refused = client.post("/api/runs", json={"prompts": {"folder": folder}})
            assert refused.status_code == 422, folder
            assert "folder on the server" in error_fields(refused)["prompts.folder"]
        names = [f"swebench:{outside}/secret.jsonl", "swebench:/etc/passwd.json", "swebench:~/x.jsonl",
                 "swebench:~", "polyglot:/etc", "polyglot:relative/dir", "polyglot:../../..", "swebench:../x.jsonl",
                 f"swebench:{clade_home.root}/escape/secret.jsonl", f"polyglot:{clade_home.root}/escape",
                 f"swebench:{allowed}/../outside/secret.jsonl", f"swebench: {allowed}/x.jsonl",
                 "swebench:/tmp/a\u0000b.jsonl", f" POLYGLOT :{outside}", "swebench:" + "a" * 300]
        for name in names:
            refused = client.post("/api/runs", json={"benchmark": {"name": name}})
            assert refused.status_code == 422, (name, refused.text)
            message = error_fields(refused)["benchmark.name"]
            assert "this server may read" in message or "NUL" in message or "dataset name" in message, message
        # inside an allowed folder the path check passes (and the loader says what is missing there)
        inside = client.post("/api/runs", json={"benchmark": {"name": f"swebench:{allowed}/missing.jsonl"}})
        assert inside.status_code == 422 and "benchmark.name" not in error_fields(inside)
        for ray in ({"address": "10.0.0.1:6379"}, {"gateway_host": "0.0.0.0"}):
            refused = client.post("/api/runs", json={"executor": "ray", "ray": ray})
            assert refused.status_code == 422 and "the server's" in error_fields(refused)[f"ray.{next(iter(ray))}"]
    assert_untouched(archive, server)


# -- bounds ---------------------------------------------------------------------------
BOUNDS = [
    ({"sandbox": {"memory": "100t"}}, "sandbox.memory", "64g"),
    ({"sandbox": {"pids": 1e9}}, "sandbox.pids", "65536"),
    ({"sandbox": {"lifetime": 1e300}}, "sandbox.lifetime", "86400"),
    ({"sandbox": {"cpus": 1000}}, "sandbox.cpus", "64"),
    ({"sandbox": {"max_output_bytes": 2**40}}, "sandbox.max_output_bytes", str(64 * 1024**2)),
    ({"sandbox": {"max_transfer_bytes": "1t"}}, "sandbox.max_transfer_bytes", "16g"),
    ({"sandbox": {"workspace_size": "65g"}}, "sandbox.workspace_size", "64g"),
    ({"sandbox": {"exec_timeout": 1e12}}, "sandbox.exec_timeout", "86400"),
    ({"name": "n" * 201}, "name", "200 characters"),
    ({"name": ""}, "name", "at least 1"),
    ({"workers": 100000}, "workers", "256"),
    ({"seed": -1}, "seed", "at least 0"),
    ({"budget": {"task_evaluations": 10**12}}, "budget.task_evaluations", "1000000"),
    ({"budget": {"expansions": 10**9}}, "budget.expansions", "100000"),
    ({"budget": {"wall_seconds": 1e300}}, "budget.wall_seconds", "2.592e+06"),
    ({"budget": {"tokens": 10**15}}, "budget.tokens", "1000000000000"),
    ({"budget": {"usd": 1e12}}, "budget.usd", "1000000"),
    ({"timeouts": {"agent_seconds": 1e300}}, "timeouts.agent_seconds", "86400"),
    ({"timeouts": {"tests_seconds": 1e9}}, "timeouts.tests_seconds", "86400"),
    ({"agent": {"max_steps": 10**9}}, "agent.max_steps", "10000"),
    ({"models": {"diagnosis_max_chars": 10**9}}, "models.diagnosis_max_chars", "1000000"),
    ({"final": {"confirm_top": 10**6}}, "final.confirm_top", "1000"),
    ({"benchmark": {"tasks": ["t"] * 10_001}}, "benchmark.tasks", "10000 items"),
    ({"benchmark": {"held_out": ["t"] * 10_001}}, "benchmark.held_out", "10000 items"),
    ({"benchmark": {"tasks": ["t" * 201]}}, "benchmark.tasks.0", "200"),
    ({"policy": {"name": "hgm", "params": {"alpha": 1e300}}}, "policy.params", "finite number"),
    ({"policy": {"name": "hgm", "params": {"alpha": [1, 2]}}}, "policy.params", "a number"),
    ({"ray": {"max_retries": 10**6}}, "ray.max_retries", "100"),
]


def test_every_resource_a_config_asks_for_is_bounded(serve_app, archive: Archive) -> None:
    server = serve_app()
    with server.client() as client:
        for body, field, allowed in BOUNDS:
            response = client.post("/api/runs", json=body)
            assert response.status_code == 422, (body, response.text[:300])
            fields = error_fields(response)
            assert field in fields, (field, fields)
            assert allowed in fields[field], (field, fields[field])
            if field != "policy.params":
                assert "allowed:" in fields[field] or "at most" in fields[field], fields[field]
        # NaN and Infinity, which Python's JSON reader takes, anywhere in the body
        for raw in ('{"sandbox": {"memory": Infinity}}', '{"policy": {"params": {"alpha": NaN}}}',
                    '{"budget": {"usd": -Infinity}}', '{"timeouts": {"agent_seconds": NaN}}'):
            response = client.post("/api/runs", content=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, (raw, response.text)
            assert "finite" in json.dumps(response.json()) or "allowed" in json.dumps(response.json()), response.text
        # deep nesting and junk are 422s too, never a 500
        for depth in (50, 900, 5000):
            raw = '{"policy": {"params": {"a": ' + "[" * depth + "]" * depth + "}}}"
            response = client.post("/api/runs", content=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, (depth, response.text[:300])
            assert len(response.content) < 20_000
        # the bounds are the run config's own: the CLI refuses the same
        from evolve.config import ConfigError, validate_config
        for body, field, _ in BOUNDS[:3]:
            with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
                validate_config(body)
    assert_untouched(archive, server)


def test_a_body_over_the_cap_gets_413_and_nothing_is_stored(serve_app, archive: Archive) -> None:
    server = serve_app()
    huge = json.dumps({"name": "n" * (2 * 1024**2)}).encode()
    with server.client() as client:
        declared = client.post("/api/runs", content=huge, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413, declared.text[:300]
        assert "1 MiB" in declared.json()["detail"][0]["msg"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what it reads
            for i in range(0, len(huge), 64 * 1024):
                yield huge[i:i + 64 * 1024]

        chunked = client.post("/api/runs", content=chunks(), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["detail"][0]["msg"].startswith("the request body is larger")
        assert chunked.headers["x-content-type-options"] == "nosniff"  # the usual headers on a refusal too
        # under the cap, the name's own bound answers
        long_name = client.post("/api/runs", json={"name": "n" * 500_000})
        assert long_name.status_code == 422 and "name" in error_fields(long_name)
        listed = client.get("/api/runs")
        assert listed.status_code == 200 and listed.json()["runs"] == [] and len(listed.content) < 100
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:  # no token: 401 before anything is read
        assert anonymous.post("/api/runs", content=huge).status_code == 401
    assert_untouched(archive, server)


# -- event streams ---------------------------------------------------------------------
@contextlib.contextmanager
def open_stream(client: httpx.Client, run_id: int) -> Iterator[httpx.Response]:
    request = client.build_request("GET", f"/api/runs/{run_id}/events")
    response = client.send(request, stream=True)
    try:
        if response.status_code == 200:
            chunks = response.iter_raw()  # kept until the end: dropping it would close the connection
            assert next(chunks).startswith(b"retry:")  # the stream is open and sending
        yield response
    finally:
        response.close()


def test_event_streams_are_capped_per_client_and_in_all(serve_app, archive: Archive) -> None:
    ids = populate_run(archive, status=RunStatus.RUNNING)  # a live run: its streams stay open
    run_id = ids["run"]
    server = serve_app(sse_max_streams_per_client=8, sse_max_streams=10, sse_max_seconds=120,
                       sse_poll_seconds=0.05, sse_heartbeat_seconds=1)
    slots = server.app.state.streams
    other_address = httpx.HTTPTransport(local_address="127.0.0.2")  # a second client on this machine
    with contextlib.ExitStack() as streams, server.client() as client, \
            httpx.Client(base_url=server.url, headers=server.headers, timeout=30, transport=other_address) as other:
        opened = [streams.enter_context(open_stream(client, run_id)) for _ in range(8)]
        assert all(r.status_code == 200 for r in opened) and slots.open("127.0.0.1") == 8

        with open_stream(client, run_id) as ninth:
            ninth.read()
            assert ninth.status_code == 429, ninth.text
            assert ninth.headers["content-type"].startswith("application/json")
            assert int(ninth.headers["retry-after"]) > 0
            assert "event streams open" in ninth.json()["detail"][0]["msg"]
        started = time.monotonic()
        listed = client.get("/api/runs")  # the server still answers everything else
        assert listed.status_code == 200 and listed.json()["runs"][0]["id"] == run_id, time.monotonic() - started
        assert client.get(f"/api/runs/{run_id}").status_code == 200

        # another client has its own share, until the total is reached
        theirs = [streams.enter_context(open_stream(other, run_id)) for _ in range(2)]
        assert [r.status_code for r in theirs] == [200, 200] and slots.open() == 10
        with open_stream(other, run_id) as over_total:
            over_total.read()
            assert over_total.status_code == 429 and "the most this server allows" in over_total.json()["detail"][0]["msg"]

        # a client that goes away gives its slot back
        opened[0].close()
        wait_for(lambda: slots.open("127.0.0.1") == 7, timeout=10, what="the closed stream's slot")
        with open_stream(client, run_id) as again:
            assert again.status_code == 200
        wait_for(lambda: slots.open("127.0.0.1") == 7, timeout=10, what="the slot of the stream closed again")
    wait_for(lambda: slots.open() == 0, timeout=10, what="every slot back")
    with server.client() as client:  # and new streams are taken again
        with open_stream(client, run_id) as fresh:
            assert fresh.status_code == 200
        assert client.get(f"/api/runs/{run_id}/event-log").status_code == 200


def test_a_stream_of_a_missing_run_takes_no_slot(serve_app, archive: Archive) -> None:
    server = serve_app(sse_max_streams_per_client=1)
    with server.client() as client:
        for _ in range(3):
            missing = client.get("/api/runs/999999/events")
            assert missing.status_code == 404 and missing.json()["detail"][0]["type"] == "not_found"
    assert server.app.state.streams.open() == 0


def test_the_default_caps(clade_home: CladeHome) -> None:
    from api.settings import ServerSettings

    settings = ServerSettings(home=clade_home)
    assert settings.max_body_bytes == 1024**2
    assert (settings.sse_max_streams_per_client, settings.sse_max_streams) == (8, 32)
    assert settings.backends.names == ["local"] and settings.backends["local"] == BackendConfig()
    assert all(root != Path.cwd().resolve() or root == clade_home.root.resolve() for root in settings.config_roots())
    assert os.fspath(clade_home.root.resolve()) in map(os.fspath, settings.config_roots())


def test_clade_serve_offers_the_backends_of_its_file(clade_home: CladeHome, archive: Archive, tmp_path: Path,
                                                     listener: Listener) -> None:
    """`clade serve --backends FILE` for real (a process): a posted run names
    the file's backends and gets them; anything else is refused."""
    from api.server import start_background_server

    operator = BackendConfig(name="team", model="openai/team-model", api_base="http://10.0.0.2:9/v1",
                             api_key_env="TEAM_KEY")
    server = start_background_server(clade_home, log_path=tmp_path / "serve.log", backends=[operator])
    try:
        with server.client(timeout=30) as client:
            refused = client.post("/api/runs", json={"models": {"backends": [{"name": "team", "api_base": listener.url,
                                                                              "api_key_env": SECRET_ENV}]}})
            assert refused.status_code == 422 and "models.backends.0" in error_fields(refused)
            local = client.post("/api/runs?start=false", json={"models": {"backends": ["local"]}})
            assert local.status_code == 422 and "['team']" in error_fields(local)["models.backends.0"]
            accepted = client.post("/api/runs?start=false", json={"name": "team-run"})
            assert accepted.status_code == 201, accepted.text
        stored = archive.repo.get_run(accepted.json()["id"]).config["models"]
        assert stored["backends"] == [operator.model_dump(mode="json")] and stored["solve"] == "team"
        assert "Model backends posted runs may name: team" in server.log_path.read_text()
    finally:
        server.stop()
    assert [r.name for r in archive.repo.list_runs()] == ["team-run"]
    assert listener.connections == 0
