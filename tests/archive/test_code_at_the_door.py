"""A child's code is checked when its patch is applied, never later: links
that leave the tree, binary content, oversized files and trees are refused
with the reason, nothing is stored, and what is stored unpacks by streaming.
These are the attacks of the hostile-agents issues, each asserting what the
archive kept."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from archive import Archive
from archive.code_limits import CodeLimits, UnsafeCode, check_folder
from archive.models import NodeStatus


def child_patch(archive: Archive, commit: str, run_id: int, change: Callable[[Path], None], tmp: Path) -> str:
    """What an agent's `git diff --binary` would hand back after `change`."""
    work = tmp / "work"
    archive.code_store(run_id).materialize(commit, work)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=a", "-c", "user.email=a@a", "commit", "-qm", "p"]):
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)
    change(work)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    return subprocess.run(["git", "diff", "--cached", "--binary"], cwd=work, check=True, capture_output=True,
                          text=True).stdout


ATTACKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "absolute link": (lambda w: os.symlink("/etc/passwd", w / "agent" / "passwd"), "outside the agent's code"),
    "link up and out": (lambda w: os.symlink("../../../home", w / "agent" / "home"), "outside the agent's code"),
    "binary blob": (lambda w: (w / "agent" / "blob.bin").write_bytes(b"\0" * 4096), "is binary"),
    "a zip bomb's worth of zeros": (lambda w: (w / "agent" / "zeros.py").write_text("#" * (300 * 1024)),
                                    "more than the 262144 one file may"),
    "too many files": (lambda w: [(w / "agent" / f"m{i}.py").write_text("x = 1\n") for i in range(40)],
                       "more than 30 files"),
}
LIMITS = CodeLimits(max_file_bytes=256 * 1024, max_files=30)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_child_breaking_a_limit_is_refused_and_nothing_is_stored(archive: Archive, seed_agent: Path,
                                                                    tmp_path: Path, attack: str) -> None:
    change, expected = ATTACKS[attack]
    run, root = archive.create_run("door", {}, seed_agent)
    node = archive.repo.add_node(run.id, root.id, status=NodeStatus.BUILDING)
    store = archive.code_store(run.id)
    commits_before = store.commits()
    patch = child_patch(archive, root.commit, run.id, change, tmp_path)
    with pytest.raises(UnsafeCode, match=expected):
        archive.attach_patch(node.id, patch, LIMITS)
    assert archive.repo.get_node(node.id).commit is None
    assert store.commits() == commits_before
    # The worker's own check (before it validates a child) says the same of the child's folder.
    with pytest.raises(UnsafeCode, match=expected):
        check_folder(tmp_path / "work", LIMITS)


def test_links_inside_the_tree_and_plain_changes_pass(archive: Archive, seed_agent: Path, tmp_path: Path) -> None:
    run, root = archive.create_run("door", {}, seed_agent)
    node = archive.repo.add_node(run.id, root.id, status=NodeStatus.BUILDING)

    def change(work: Path) -> None:
        (work / "agent" / "core.py").write_text("def main() -> None:\n    print('changed')\n")
        os.symlink("core.py", work / "agent" / "alias.py")

    node = archive.attach_patch(node.id, child_patch(archive, root.commit, run.id, change, tmp_path), LIMITS)
    code = archive.code_store(run.id).materialize(node.commit, tmp_path / "out")
    assert (code / "agent" / "alias.py").is_symlink() and "changed" in (code / "agent" / "alias.py").read_text()


def test_the_default_limits_hold_without_a_run_config(archive: Archive, seed_agent: Path, tmp_path: Path) -> None:
    run, root = archive.create_run("door", {}, seed_agent)
    node = archive.repo.add_node(run.id, root.id, status=NodeStatus.BUILDING)
    patch = child_patch(archive, root.commit, run.id, lambda w: os.symlink("/", w / "agent" / "root"), tmp_path)
    with pytest.raises(UnsafeCode, match="outside the agent's code"):
        archive.attach_patch(node.id, patch)
