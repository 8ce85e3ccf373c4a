"""Bad input gets an error that says what is wrong and what to do."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from sandbox import image, recipe
from sandbox.client import get_client
from sandbox.docker_sandbox import LLM_SOCKET_PATH, DockerSandbox
from sandbox.errors import DockerUnavailable, ImageMissing, SandboxError, SandboxExpired, SocketMountError
from sandbox.limits import SandboxLimits

pytestmark = pytest.mark.docker


def test_docker_daemon_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerUnavailable) as caught:
        get_client()
    message = str(caught.value)
    assert f"{tmp_path}/no-docker.sock" in message
    assert "systemctl start docker" in message and "DOCKER_HOST" in message
    with pytest.raises(DockerUnavailable):
        DockerSandbox()
    with pytest.raises(DockerUnavailable):
        image.build()


def test_missing_image_says_to_build_it(sandbox_image: str) -> None:
    with pytest.raises(ImageMissing, match=r"run `clade sandbox build`"):
        DockerSandbox("clade-sandbox:does-not-exist")
    with pytest.raises(ImageMissing, match=r"run `clade sandbox build`"):
        image.require_image("clade-sandbox:does-not-exist")


def test_missing_override_image_points_at_the_dockerfile(monkeypatch: pytest.MonkeyPatch, sandbox_image: str) -> None:
    monkeypatch.setenv(recipe.IMAGE_ENV, "my-registry/clade-sandbox:missing")
    assert recipe.runtime_image_tag() == "my-registry/clade-sandbox:missing"
    with pytest.raises(ImageMissing, match="docker/README.md"):
        DockerSandbox()


def test_bad_commands_and_arguments(sandbox: DockerSandbox) -> None:
    with pytest.raises(SandboxError, match="empty"):
        sandbox.exec([])
    with pytest.raises(SandboxError, match="positive"):
        sandbox.exec(["true"], timeout=0)
    with pytest.raises(SandboxError, match="environment variable"):
        sandbox.exec(["true"], env={"A=B": "x"})
    result = sandbox.exec(["true"], workdir="/no/such/dir")
    assert result.exit_code != 0 and "no such file" in result.output.lower()


def test_use_after_the_lifetime_is_an_expired_error(sandbox_image: str) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(lifetime=2)) as sb:
        result = sb.exec(["sleep", "30"], timeout=30)
        assert result.timed_out and result.exit_code == 124
        with pytest.raises(SandboxExpired, match="lifetime"):
            sb.exec(["true"])


def test_socket_mount_rejects_what_is_not_a_socket(sandbox_image: str, tmp_path: Path) -> None:
    with pytest.raises(SocketMountError, match="does not exist"):
        DockerSandbox(sandbox_image, llm_socket=tmp_path / "missing.sock")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SocketMountError, match="not a Unix socket"):
        DockerSandbox(sandbox_image, llm_socket=tmp_path / "file")


def test_the_one_socket_is_mounted_and_reachable(sandbox_image: str, tmp_path: Path) -> None:
    path = tmp_path / "llm.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o666)  # the sandbox user (uid 1000) must be allowed to connect
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"gateway says " + conn.recv(100))
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with DockerSandbox(sandbox_image, llm_socket=path) as sb:
            result = sb.exec(["python3", "-c", (
                "import os, socket\n"
                "s = socket.socket(socket.AF_UNIX); s.connect(os.environ['CLADE_LLM_SOCKET'])\n"
                "s.sendall(b'hello'); print(s.recv(100).decode())\n"
                "open(os.environ['CLADE_LLM_SOCKET'], 'w')\n"
            )], timeout=30)
            listing = sb.exec(["ls", "-A", "/run/clade"], timeout=30).output
    finally:
        server.close()
    assert "gateway says hello\n" in result.output, result.output
    assert LLM_SOCKET_PATH == "/run/clade/llm.sock"
    assert "Read-only file system" in result.output or "No such device" in result.output  # it cannot be replaced
    assert listing == "llm.sock\n"
