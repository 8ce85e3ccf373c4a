"""Moving files in and out of a real sandbox, including what a hostile one would try."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from sandbox.docker_sandbox import DockerSandbox
from sandbox.errors import (
    NotARegularFile,
    SandboxError,
    SandboxFileNotFound,
    SparseFile,
    TransferFailed,
    TransferTooLarge,
    UnsafePath,
)
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


def test_sparse_files_are_refused_before_anything_is_copied(sandbox: DockerSandbox, tmp_path: Path) -> None:
    sandbox.exec("mkdir -p out && truncate -s 500M out/patch.diff && echo '{}' > out/summary.json", timeout=30)
    for read in (lambda: sandbox.read_file("out/patch.diff"),
                 lambda: sandbox.read_files(["out/summary.json", "out/patch.diff"]),
                 lambda: sandbox.copy_out("out", tmp_path / "dest")):
        started = time.monotonic()
        with pytest.raises(SparseFile, match=r"sparse file.*500 MiB long, 0 bytes written"):
            read()
        assert time.monotonic() - started < 5  # refused on sight, not after streaming 500 MiB
    assert not list((tmp_path / "dest").rglob("*"))
    assert issubclass(SparseFile, TransferTooLarge)  # callers catching the older error still catch it
    assert sandbox.read_file("out/summary.json") == b"{}\n"


def test_a_file_with_a_few_holes_still_reads(sandbox: DockerSandbox) -> None:
    sandbox.exec("head -c 3000000 /dev/urandom > holes && truncate -s 3500000 holes", timeout=30)  # a 0.5 MB hole
    assert len(sandbox.read_file("holes")) == 3_500_000


def test_files_over_the_cap_are_refused_and_the_cap_is_per_call(sandbox_image: str) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(max_transfer_bytes="8m")) as sb:
        sb.exec("head -c 10000000 /dev/urandom > big && head -c 3000 /dev/urandom > small", timeout=30)
        with pytest.raises(TransferTooLarge, match=r"big in the sandbox is 9.5 MiB, more than the 8m"):
            sb.read_file("big")  # the default cap never passes the sandbox's transfer cap
        with pytest.raises(TransferTooLarge, match="more than the 2999 a read may copy"):
            sb.read_file("small", max_bytes=2999)
        assert len(sb.read_file("small", max_bytes=3000)) == 3000  # exactly the cap is fine
        with pytest.raises(TransferTooLarge, match="more than the 8m"):
            sb.read_file("big", max_bytes=100 * 2**20)  # a larger cap is clamped to max_transfer_bytes
        with pytest.raises(SandboxError, match="whole number of bytes"):
            sb.read_file("small", max_bytes=-1)


def test_files_read_together_are_capped_together(sandbox_image: str) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(max_transfer_bytes="4m")) as sb:
        sb.exec("for i in 1 2 3; do head -c 1500000 /dev/urandom > f$i; done", timeout=30)
        assert len(sb.read_files(["f1", "f2"])) == 2
        with pytest.raises(TransferTooLarge, match="hold 4.3 MiB together, more than the 4m"):
            sb.read_files(["f1", "f2", "f3"])


def test_copy_out_caps_the_total_and_the_number_of_entries(sandbox: DockerSandbox, tmp_path: Path) -> None:
    sandbox.exec("mkdir -p tree/sub && head -c 600000 /dev/urandom > tree/a && "
                 "head -c 600000 /dev/urandom > tree/sub/b && touch tree/sub/c", timeout=30)
    with pytest.raises(TransferTooLarge, match="holds more than 1m of files"):
        sandbox.copy_out("tree", tmp_path / "one", max_bytes=2**20)
    with pytest.raises(TransferTooLarge, match=r"a file of 585.9 KiB \('tree/a'\), more than the 500000"):
        sandbox.copy_out("tree", tmp_path / "two", max_bytes=500_000)
    with pytest.raises(TransferTooLarge, match="more than 4 entries"):
        sandbox.copy_out("tree", tmp_path / "three", max_files=4)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing was copied by a refused copy
    report = sandbox.copy_out("tree", tmp_path / "ok", max_bytes=1_200_000, max_files=5)
    assert sorted(report.files) == ["a", "sub/b", "sub/c"]


def test_the_host_bounds_the_stream_whatever_the_check_inside_said(sandbox: DockerSandbox) -> None:
    """The last line: if a file grows between the check and the copy, the host stops reading at its bound."""
    sandbox.exec("head -c 5000000 /dev/zero > grown", timeout=30)
    with tempfile.SpooledTemporaryFile() as sink:
        with pytest.raises(TransferTooLarge, match="more than the check before the copy admitted"):
            sandbox._tar_out(["tar", "-c", "-f", "-", "workspace/grown"], sink, 1024 * 1024, what="grown")
        assert sink.tell() <= 1024 * 1024
    assert sandbox.exec("pgrep -c tar || true", timeout=30).output.strip() == "0"  # the tar was killed


def test_the_outputs_an_agent_hands_back_are_read_under_the_caps(sandbox: DockerSandbox) -> None:
    """evaluator.contract.read_outputs: sparse outputs and outputs over their cap are not read
    (and the reason is kept); the host's memory never holds them."""
    from evaluator.contract import OUTPUT_CAPS, read_outputs

    sandbox.exec("mkdir -p /workspace/out && truncate -s 500M /workspace/out/patch.diff "
                 f"&& head -c {OUTPUT_CAPS['trajectory.jsonl'] + 1} /dev/urandom > /workspace/out/trajectory.jsonl "
                 "&& echo '{\"ok\": 1}' > /workspace/out/summary.json", timeout=60)
    written, refused = read_outputs(sandbox)
    assert written == {"summary.json": b'{"ok": 1}\n'}
    assert set(refused) == {"patch.diff", "trajectory.jsonl"}
    assert "sparse" in refused["patch.diff"].lower(), refused


def test_an_unreadable_file_says_so(sandbox: DockerSandbox) -> None:
    sandbox.exec("echo x > secret && chmod 000 secret", timeout=30)
    with pytest.raises(SandboxError, match="not readable by the sandbox user"):
        sandbox.read_file("secret")


def test_a_tree_too_deep_for_the_host_is_skipped_with_the_reason(sandbox: DockerSandbox, tmp_path: Path) -> None:
    """Copying out a folder nested deeper than the host's path limit: the files that
    fit come back, the rest are listed with why, and no raw OSError escapes."""
    level = "d" + "0123456789" * 4
    made = sandbox.exec(["python3", "-c", "import os\nos.makedirs('/workspace/deep')\nos.chdir('/workspace/deep')\n"
                         "open('top.txt', 'w').write('top')\n"
                         f"for _ in range(120):\n    os.mkdir({level!r}); os.chdir({level!r})\n"
                         "open('f', 'w').write('x')\n"], timeout=120)
    assert made.ok, made.output
    report = sandbox.copy_out("/workspace/deep", tmp_path / "out")
    assert "top.txt" in report.files
    assert any("cannot create it on the host" in why for _, why in report.skipped), report.skipped[:3]
