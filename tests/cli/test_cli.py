"""The `clade` command as a user runs it: a real process on a real archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from archive import CladeHome, Outcome, open_archive

CLADE = str(Path(sys.executable).with_name("clade"))


def clade(*args: str, env: dict[str, str] | None = None, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [CLADE, *args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, env=env or dict(os.environ), timeout=120)


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2 and exactly one line on stderr that says what is wrong and what to do."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def populated(clade_home: CladeHome, seed_agent: Path):
    archive = open_archive(clade_home)
    run, root = archive.create_run("demo run", {"policy": "hgm"}, seed_agent)
    patch = "--- a/agent/core.py\n+++ b/agent/core.py\n@@ -1,2 +1,2 @@\n def main() -> None:\n-    print('hello')\n+    print('hello, world')\n"
    child = archive.add_child(root.id, patch, entry_task="task-7", proposal={"summary": "greet the world"})
    for task, outcome in [("task-1", Outcome.RESOLVED), ("task-2", Outcome.UNRESOLVED)]:
        evaluation = archive.repo.start_evaluation(child.id, task)
        archive.repo.finish_evaluation(evaluation.id, outcome, duration_s=2.0, prompt_tokens=10, completion_tokens=5)
    archive.close()
    return run, root, child


def test_version() -> None:
    result = clade("--version")
    assert result.returncode == 0 and result.stdout.startswith("clade 0.")


def test_listing_showing_diffing_exporting(populated, tmp_path: Path) -> None:
    run, root, child = populated
    runs = json.loads(clade("run", "list", "--json").stdout)["runs"]
    assert [(r["id"], r["name"], r["nodes"], r["evaluations"]) for r in runs] == [(run.id, "demo run", 2, 2)]
    assert "demo run" in clade("run", "list").stdout

    shown = json.loads(clade("node", "show", str(child.id), "--json").stdout)
    assert (shown["parent_id"], shown["entry_task"], shown["own_resolved"], shown["own_total"]) == (root.id, "task-7", 1, 2)
    assert [e["outcome"] for e in shown["evaluations"]] == ["resolved", "unresolved"]
    assert "greet the world" in clade("node", "show", str(child.id)).stdout

    diff = clade("node", "diff", str(child.id)).stdout
    assert diff.startswith("diff --git a/agent/core.py") and "+    print('hello, world')" in diff

    tree = json.loads(clade("run", "tree", str(run.id), "--json").stdout)
    assert dict(zip(tree["id"], zip(tree["clade_resolved"], tree["clade_total"]))) == {root.id: (1, 2), child.id: (1, 2)}

    out = tmp_path / "best.tar.gz"
    assert clade("export", str(child.id), "-o", str(out)).returncode == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("clade-lineage.json"))
    assert "agent/core.py" in names and manifest["ancestors"][0]["id"] == root.id
    bundle = tmp_path / "best.bundle"
    assert clade("export", str(child.id), "-o", str(bundle), "--format", "bundle").returncode == 0
    assert subprocess.run(["git", "bundle", "verify", str(bundle)], capture_output=True).returncode == 0


def test_unknown_node_id(populated, tmp_path: Path) -> None:
    assert_user_error(clade("node", "show", "999"), "no node with id 999", "clade run tree")
    assert_user_error(clade("node", "diff", "999"), "no node with id 999")
    assert_user_error(clade("export", "999", "-o", str(tmp_path / "x.tar.gz")), "no node with id 999")
    assert list(tmp_path.glob("x.tar.gz*")) == [] and list(tmp_path.glob(".x.tar.gz*")) == []


def test_export_into_a_missing_folder(populated, tmp_path: Path) -> None:
    _, _, child = populated
    assert_user_error(clade("export", str(child.id), "-o", str(tmp_path / "nope" / "a.tgz")), "does not exist")
    assert not (tmp_path / "nope").exists()


def test_corrupt_database_file(clade_home: CladeHome) -> None:
    clade_home.root.mkdir(parents=True)
    garbage = b"this is not a database\n" * 200
    (clade_home.root / "clade.db").write_bytes(garbage)
    before = listing(clade_home.root)
    assert_user_error(clade("run", "list"), "cannot open the archive database", "move the file aside")
    assert listing(clade_home.root) == before


def test_database_url_in_a_missing_folder(clade_home: CladeHome, tmp_path: Path) -> None:
    env = {**os.environ, "CLADE_DATABASE_URL": f"sqlite:///{tmp_path}/missing/clade.db"}
    assert_user_error(clade("run", "list", env=env), "does not exist", "CLADE_DATABASE_URL")
    assert not (tmp_path / "missing").exists()


def test_unreachable_postgres(clade_home: CladeHome) -> None:
    env = {**os.environ, "CLADE_DATABASE_URL": "postgresql+psycopg://clade@127.0.0.1:9/clade"}
    assert_user_error(clade("run", "list", env=env), "cannot open the archive database", "server is running")


def test_unwritable_home(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    env = {**os.environ, "CLADE_HOME": str(a_file / "home")}
    assert_user_error(clade("run", "list", env=env), "is not writable", "set CLADE_HOME")
    assert a_file.read_text() == "x"


def test_read_only_home(tmp_path: Path) -> None:
    """An immutable folder refuses writes even to root (whom permission bits don't stop)."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["chattr", "+i", str(home)], check=True)
    try:
        env = {**os.environ, "CLADE_HOME": str(home)}
        assert_user_error(clade("run", "list", env=env), f"CLADE_HOME={home} is not writable", "fix the permissions")
        assert list(home.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(home)], check=True)


def test_patch_that_does_not_apply(populated, tmp_path: Path, clade_home: CladeHome) -> None:
    run, root, _ = populated
    bad = tmp_path / "bad.diff"
    bad.write_text("--- a/agent/core.py\n+++ b/agent/core.py\n@@ -1 +1 @@\n-def other():\n+def main():\n")
    store = clade_home.code_store_path(run.id)
    refs_before = sorted(p.name for p in (store / "refs" / "heads").iterdir())
    assert_user_error(clade("node", "add", str(root.id), "--patch", str(bad)), "does not apply", "make the patch against")
    assert json.loads(clade("run", "list", "--json").stdout)["runs"][0]["nodes"] == 2
    assert sorted(p.name for p in (store / "refs" / "heads").iterdir()) == refs_before

    good = tmp_path / "good.diff"
    good.write_text(
        "--- a/agent/core.py\n+++ b/agent/core.py\n@@ -1,2 +1,2 @@\n"
        "-def main() -> None:\n+def main() -> None:  # typed\n     print('hello')\n"
    )
    added = clade("node", "add", str(root.id), "--patch", str(good), "--summary", "annotate")
    assert added.returncode == 0, added.stderr
    assert json.loads(clade("run", "list", "--json").stdout)["runs"][0]["nodes"] == 3


@pytest.mark.parametrize("args, needles", [
    (("run", "tre", "1"), ("No such command 'tre'", "Did you mean 'tree'?", "clade run --help")),
    (("run", "tree", "abc"), ("Invalid value for 'run_id'", "clade run tree --help")),
    (("run", "status"), ("Missing argument 'run_id'", "clade run status --help")),
    (("export", "1", "--best"), ("Missing option '-o' / '--output'", "clade export --help")),
    (("node", "show"), ("Missing argument", "clade node show --help")),
    (("eval", "--workers", "many"), ("Invalid value for '--workers'", "clade eval --help")),
    (("nosuch",), ("No such command 'nosuch'", "clade --help")),
    (("agent", "tset"), ("No such command 'tset'", "clade agent --help")),
    (("sandbox", "run"), ("Missing argument 'cmd'", "clade sandbox run --help")),
    (("sandbox", "build", "--nosuch"), ("No such option: --nosuch", "clade sandbox build --help")),
    (("llm", "stauts"), ("No such command 'stauts'", "clade llm --help")),
    (("simulate", "--budget", "x"), ("--budget must be whole numbers",)),
    (("serve", "--port", "x"), ("Invalid value for '--port'", "clade serve --help")),
], ids=["unknown-subcommand", "bad-integer", "missing-argument", "missing-option", "node-show-bare",
        "bad-option-value", "unknown-command", "agent-unknown", "sandbox-missing-argument", "sandbox-unknown-option",
        "llm-unknown", "simulate-bad-budget", "serve-bad-port"])
def test_usage_mistakes_get_one_line_and_exit_2(clade_home: CladeHome, args: tuple[str, ...],
                                                needles: tuple[str, ...]) -> None:
    assert_user_error(clade(*args), *needles)
