"""`clade eval` as a user runs it: a real process, real sandboxes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archive import CladeHome, open_archive

CLADE = str(Path(sys.executable).with_name("clade"))
TASKS = "textkit__slug-max-length-separator,calc__floor-division"


def clade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLADE, *args], capture_output=True, text=True, env=dict(os.environ), timeout=600)


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_list_subsets(clade_home: CladeHome) -> None:
    result = clade("eval", "--benchmark", "builtin", "--list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert len(listed["subsets"]["small"]) == 10 and len(listed["subsets"]["full"]) >= 60


def test_user_errors_are_one_line(clade_home: CladeHome, tmp_path: Path) -> None:
    assert_user_error(clade("eval", "--benchmark", "nosuch"), "unknown benchmark 'nosuch'", "polyglot:PATH")
    assert_user_error(clade("eval", "--tasks", "nope__task", "--agent", "gold"), "no task nope__task")
    assert_user_error(clade("eval", "--benchmark", f"polyglot:{tmp_path / 'x'}"), "no polyglot checkout")
    assert_user_error(clade("eval", "--agent", "banana", "--tasks", TASKS), "unknown agent 'banana'")


@pytest.mark.docker
def test_json_report_with_gold_and_noop(clade_home: CladeHome, sandbox_image: str, tmp_path: Path) -> None:
    gold = clade("eval", "--tasks", TASKS, "--agent", "gold", "--workers", "2", "--json", "--out", str(tmp_path / "g"))
    assert gold.returncode == 0, gold.stderr
    report = json.loads(gold.stdout)
    assert report["summary"]["tasks"] == 2 and report["summary"]["resolved"] == 2
    assert [t["task_id"] for t in report["tasks"]] == TASKS.split(",")
    assert {t["outcome"] for t in report["tasks"]} == {"resolved"}
    assert json.loads((tmp_path / "g" / "report.json").read_text()) == report
    assert (tmp_path / "g" / "tasks" / "calc__floor-division" / "test_output.txt").is_file()

    noop = clade("eval", "--tasks", TASKS, "--agent", "noop", "--out", str(tmp_path / "n"))
    assert noop.returncode == 0, noop.stderr
    assert "0/2 resolved" in noop.stdout and "unresolved" in noop.stdout
    assert json.loads((tmp_path / "n" / "report.json").read_text())["summary"]["unresolved"] == 2


@pytest.mark.docker
def test_node_agent_is_recorded_in_the_archive(clade_home: CladeHome, seed_agent: Path, sandbox_image: str,
                                              scripted_model) -> None:
    """A node's code (here a stand-in that changes nothing) through --llm-socket; evaluations recorded."""
    archive = open_archive(clade_home)
    (seed_agent / "__main__.py").write_text(
        "import argparse, pathlib\np = argparse.ArgumentParser()\n"
        "[p.add_argument(a) for a in ('--problem', '--repo', '--out')]\n"
        "out = pathlib.Path(p.parse_args().out); out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'patch.diff').write_text('')\n")
    run, root = archive.create_run("cli-eval", {}, seed_agent)
    archive.close()
    _, access = scripted_model(["unused"])
    result = clade("eval", "--tasks", TASKS.split(",")[0], "--agent", str(root.id), "--json",
                   "--llm-socket", access.socket_path, "--model", "scripted")
    assert result.returncode == 0, result.stderr
    [task] = json.loads(result.stdout)["tasks"]
    assert task["outcome"] == "unresolved" and task["empty_patch"] and task["agent"] == f"node:{root.id}"
    archive = open_archive(clade_home)
    try:
        [row] = archive.repo.node_evaluations(root.id)
        assert row.id == task["evaluation_id"] and row.outcome.value == "unresolved"
    finally:
        archive.close()
