"""Fixtures for the evaluator tests: real git, real pytest, real sandboxes.

The sandbox image comes from the session fixture `sandbox_image`
(tests/conftest.py); the scripted model server is helper B's
`tests.support.scripted_server`, listening on a Unix socket a sandbox can mount.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.contract import ModelAccess

FIXTURES = Path(__file__).parent / "fixtures"

# The fake polyglot checkout holds exercism-style `*_test.py` files: they are
# data for the loader, not tests of this repository.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def polyglot_root() -> Path:
    return FIXTURES / "polyglot"


@pytest.fixture
def scripted_model(tmp_path: Path) -> Iterator[callable]:
    """Start a scripted model server on a Unix socket; returns (server, ModelAccess)."""
    from tests.support.scripted_server import ScriptedServer

    servers = []

    def start(script: object) -> tuple[object, ModelAccess]:
        socket_dir = tmp_path / f"model-{len(servers)}"
        socket_dir.mkdir()
        socket_dir.chmod(0o755)
        server = ScriptedServer(script, uds=str(socket_dir / "model.sock"))
        server.__enter__()
        servers.append(server)
        return server, ModelAccess(str(socket_dir / "model.sock"), "scripted", "test-token")

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def polyglot_image(sandbox_image: str) -> str:
    """The toolchain image for Go, Rust and C++ (built once from Debian's packages, cached by tag)."""
    from evaluator import polyglot_image as image

    return image.build(("cpp", "go", "rust"), sandbox_image)
