"""Moving files in and out of a real sandbox, including what a hostile one would try."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.docker_sandbox import DockerSandbox
from sandbox.errors import NotARegularFile, SandboxFileNotFound, TransferFailed, TransferTooLarge, UnsafePath
from sandbox.limits import SandboxLimits

pytestmark = pytest.mark.docker


def test_write_then_read_round_trips_bytes(sandbox: DockerSandbox) -> None:
    blob = os.urandom(2 * 1024 * 1024)
    sandbox.write_files({"bin/blob": blob, "/tmp/text.txt": "héllo\n", "a b/c.txt": b""})
    assert sandbox.read_files(["bin/blob", "/tmp/text.txt", "a b/c.txt"]) == {
        "bin/blob": blob,
        "/tmp/text.txt": "héllo\n".encode(),
        "a b/c.txt": b"",
    }
    listing = sandbox.exec("stat -c '%U %a %n' bin/blob /tmp/text.txt", timeout=30).output.split("\n")
    assert listing[0] == "agent 644 bin/blob"


def test_write_file_mode_and_overwrite(sandbox: DockerSandbox) -> None:
    sandbox.write_file("run.sh", "#!/bin/sh\necho one\n", mode=0o755)
    assert sandbox.exec("./run.sh", timeout=30).output == "one\n"
    sandbox.write_file("run.sh", "#!/bin/sh\necho two\n", mode=0o755)
    assert sandbox.exec("./run.sh", timeout=30).output == "two\n"


def test_missing_file_is_a_file_not_found_error(sandbox: DockerSandbox) -> None:
    with pytest.raises(SandboxFileNotFound, match="does not exist"):
        sandbox.read_file("nope.txt")
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("/tmp/nope")


def test_directories_and_symlinks_are_not_read_as_files(sandbox: DockerSandbox) -> None:
    sandbox.exec("mkdir d && ln -s /etc/passwd link", timeout=30)
    with pytest.raises(NotARegularFile, match="directory"):
        sandbox.read_file("d")
    with pytest.raises(NotARegularFile, match="symlink"):
        sandbox.read_file("link")


def test_hostile_names_are_refused_before_anything_is_sent(sandbox: DockerSandbox) -> None:
    for name in ("../x", "/workspace/../../etc/x", "a/../../b", "x\0y", ""):
        with pytest.raises(UnsafePath):
            sandbox.write_file(name, "evil")
        with pytest.raises(UnsafePath):
            sandbox.read_file(name)
    assert sandbox.exec("ls -A /workspace | wc -l", timeout=30).output == "0\n"


def test_writing_to_the_read_only_root_fails_with_advice(sandbox: DockerSandbox) -> None:
    with pytest.raises(TransferFailed, match="Read-only file system"):
        sandbox.write_file("/etc/evil", "x")


def test_a_full_workspace_fails_the_copy_cleanly(sandbox_image: str) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(workspace_size="1m")) as sb:
        with pytest.raises(TransferFailed, match="Wrote only|No space left") as failure:
            sb.write_file("big", b"x" * (2 * 1024 * 1024))
        assert "\n" not in str(failure.value)
        sb.write_file("small", b"fits")
        assert sb.read_file("small") == b"fits"


def test_copy_in_a_tree_keeps_modes_and_symlinks_as_links(sandbox: DockerSandbox, tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("X = 1\n")
    (tree / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (tree / "tool.sh").chmod(0o755)
    (tree / "secret-link").symlink_to("/root/.ssh/id_rsa")
    sandbox.copy_in(tree, "/workspace/repo")
    out = sandbox.exec("cat repo/pkg/mod.py; repo/tool.sh; readlink repo/secret-link; cat repo/secret-link",
                       timeout=30).output
    assert out.startswith("X = 1\ntool\n/root/.ssh/id_rsa\n")
    assert "No such file" in out or "Permission denied" in out
    sandbox.copy_in(tree / "pkg" / "mod.py", "single.py")
    assert sandbox.read_file("single.py") == b"X = 1\n"


def test_copy_out_a_tree(sandbox: DockerSandbox, tmp_path: Path) -> None:
    sandbox.exec("mkdir -p out/deep && echo a > out/a && echo b > out/deep/b && chmod +x out/a && "
                 "ln -s /etc/passwd out/link", timeout=30)
    report = sandbox.copy_out("out", tmp_path / "dest")
    assert sorted(report.files) == ["a", "deep/b"]
    assert report.skipped == (("link", "a symlink (to '/etc/passwd')"),)
    assert (tmp_path / "dest" / "a").read_text() == "a\n"
    assert os.access(tmp_path / "dest" / "a", os.X_OK)
    assert (tmp_path / "dest" / "deep" / "b").read_text() == "b\n"
    one = sandbox.copy_out("out/deep/b", tmp_path / "one")
    assert one.files == ("b",) and (tmp_path / "one" / "b").read_text() == "b\n"
    with pytest.raises(SandboxFileNotFound):
        sandbox.copy_out("missing", tmp_path / "x")


def test_copy_out_stops_at_the_transfer_cap(sandbox_image: str, tmp_path: Path) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(max_transfer_bytes="8m")) as sb:
        sb.exec("truncate -s 100G sparse", timeout=30)
        with pytest.raises(TransferTooLarge, match="8m"):
            sb.read_file("sparse")
        assert sb.exec("pgrep -c tar || true", timeout=30).output.strip() == "0"  # the tar was killed
