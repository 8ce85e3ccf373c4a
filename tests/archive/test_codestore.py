"""The git code store: a 50-node tree, diffs, exports, bundle round trip,
and patches that do not apply."""

from __future__ import annotations

import difflib
import json
import random
import subprocess
import tarfile
from pathlib import Path

import git
import pytest

from archive import Archive, CodeStore
from archive.errors import PatchDoesNotApply
from archive.export import MANIFEST_NAME, README_NAME, export_node


def read_tree(folder: Path) -> dict[str, str]:
    """Source files by relative path (bytecode caches are not code)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
    return {str(p.relative_to(folder)): p.read_text() for p in files}


def make_patch(old: dict[str, str], new: dict[str, str]) -> str:
    """A plain unified diff (as an LLM might write one), file by file."""
    parts = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        parts.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"a/{name}" if before is not None else "/dev/null",
                tofile=f"b/{name}" if after is not None else "/dev/null",
            )
        )
    return "".join(parts)


def object_count(store: CodeStore) -> int:
    stats = dict(line.split(": ") for line in store.repo.git.count_objects("-v").splitlines())
    return int(stats["count"]) + int(stats["in-pack"])


@pytest.fixture
def fifty_node_tree(archive: Archive, seed_agent: Path, tmp_path: Path):
    """A random 50-node tree; each child adds a module and edits core.py."""
    rng = random.Random(7)
    run, root = archive.create_run("fifty", {}, seed_agent)
    expected = {root.id: read_tree(seed_agent.parent)}
    nodes = [root]
    for k in range(1, 50):
        parent = rng.choice(nodes)
        old = expected[parent.id]
        new = dict(old)
        new[f"agent/feature_{k}.py"] = f"def feature_{k}() -> int:\n    return {k}\n"
        new["agent/core.py"] = old["agent/core.py"] + f"# change {k}\n"
        child = archive.add_child(parent.id, make_patch(old, new), proposal={"summary": f"change {k}"})
        expected[child.id] = new
        nodes.append(child)
    return run, nodes, expected


def test_fifty_node_tree_round_trips(archive: Archive, fifty_node_tree, tmp_path: Path) -> None:
    run, nodes, expected = fifty_node_tree
    store = archive.code_store(run.id)
    by_id = {n.id: n for n in nodes}
    assert len(store.commits()) == 50

    for node in nodes:
        code = store.materialize(node.commit, tmp_path / f"m{node.id}")
        assert read_tree(code) == expected[node.id], f"node {node.id}"
        chain = archive.repo.lineage(node.id)
        assert store.lineage(node.commit) == [n.commit for n in chain]
        if node.parent_id is not None:
            # The stored diff, re-applied to the parent, rebuilds the same tree.
            diff = archive.node_diff(node.id)
            rebuilt = store.apply_patch(by_id[node.parent_id].commit, diff, message="check")
            assert store.repo.commit(rebuilt).tree == store.repo.commit(node.commit).tree
            assert "+# change" in diff and "feature_" in diff

    # A bundle of the whole store re-imported elsewhere reproduces every commit and branch.
    bundle = tmp_path / "run.bundle"
    store.bundle(bundle)
    clone = git.Repo.init(tmp_path / "reimport", bare=True)
    clone.git.fetch(str(bundle), "refs/heads/*:refs/heads/*")
    assert set(clone.git.rev_list("--all").split()) == store.commits()
    for node in nodes:
        assert clone.git.rev_parse(f"node-{node.id}") == node.commit


def test_export_tar_gz_holds_code_and_lineage(archive: Archive, fifty_node_tree, tmp_path: Path) -> None:
    run, nodes, expected = fifty_node_tree
    deepest = max(nodes, key=lambda n: len(archive.repo.lineage(n.id)))
    chain = archive.repo.lineage(deepest.id)
    evaluation = archive.repo.start_evaluation(chain[0].id, "task-1")
    archive.repo.finish_evaluation(evaluation.id, "resolved")

    out = export_node(archive, deepest.id, tmp_path / "agent.tar.gz")
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out) as tar:
        tar.extractall(unpacked, filter="data")
    manifest = json.loads((unpacked / MANIFEST_NAME).read_text())
    (unpacked / MANIFEST_NAME).unlink()
    assert "python3 -m agent --problem" in (unpacked / README_NAME).read_text()
    (unpacked / README_NAME).unlink()
    assert read_tree(unpacked) == expected[deepest.id]
    assert manifest["node"]["id"] == deepest.id and manifest["node"]["commit"] == deepest.commit
    assert [a["id"] for a in manifest["ancestors"]] == [n.id for n in chain[:-1]]
    assert manifest["ancestors"][0]["own_resolved"] == 1 and manifest["ancestors"][0]["score"] == 1.0
    assert manifest["node"]["proposal"]["summary"].startswith("change ")

    bundle = export_node(archive, deepest.id, tmp_path / "agent.bundle", "bundle")
    clone_dir = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "-b", f"node-{deepest.id}", str(bundle), str(clone_dir)], check=True)
    assert git.Repo(clone_dir).head.commit.hexsha == deepest.commit


@pytest.mark.parametrize(
    "bad_patch",
    [
        "--- a/agent/core.py\n+++ b/agent/core.py\n@@ -1,2 +1,2 @@\n-def nothing_like_this():\n+def main():\n     pass\n",
        "this is not a patch at all\n",
        "",
    ],
    ids=["wrong-context", "garbage", "empty"],
)
def test_a_patch_that_does_not_apply_changes_nothing(archive: Archive, seed_agent: Path, bad_patch: str) -> None:
    run, root = archive.create_run("bad", {}, seed_agent)
    store = archive.code_store(run.id)
    before = (object_count(store), store.repo.git.show_ref(), archive.repo.get_run(run.id).nodes_count)
    with pytest.raises(PatchDoesNotApply, match=r"(does not apply|is empty).*"):
        archive.add_child(root.id, bad_patch)
    after = (object_count(store), store.repo.git.show_ref(), archive.repo.get_run(run.id).nodes_count)
    assert after == before
    assert len(archive.repo.list_nodes(run.id)) == 1


def test_seed_commit_leaves_out_caches(archive: Archive, seed_agent: Path) -> None:
    run, root = archive.create_run("seed", {}, seed_agent)
    files = archive.code_store(run.id).repo.git.ls_tree("-r", "--name-only", root.commit).split()
    assert files == ["agent/__init__.py", "agent/__main__.py", "agent/core.py"]
