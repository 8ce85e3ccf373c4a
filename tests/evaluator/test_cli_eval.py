"""`clade eval` as a user runs it: a real process, real sandboxes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archive import CladeHome, open_archive
from evaluator import Outcome, TaskResult, open_benchmark

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


def write_predictions(path: Path, patches: dict[str, str | None], *models: str) -> Path:
    """A SWE-bench predictions file: one line per instance, the models given in turn (the last repeats)."""
    names = list(models) or ["my-org/model-7b"]
    lines = [json.dumps({"instance_id": i, "model_name_or_path": names[min(n, len(names) - 1)], "model_patch": p})
             for n, (i, p) in enumerate(patches.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def gold_patches(*ids: str) -> dict[str, str | None]:
    return {t.instance_id: t.patch for t in open_benchmark("builtin").load(ids=list(ids))}


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


def test_predictions_user_errors_are_one_line(clade_home: CladeHome, tmp_path: Path) -> None:
    first = TASKS.split(",")[0]
    good = write_predictions(tmp_path / "good.jsonl", {first: ""})
    assert_user_error(clade("eval", "--predictions", str(good), "--agent", "gold"),
                      "--predictions and --agent are mutually exclusive")
    unknown = write_predictions(tmp_path / "unknown.jsonl", {first: "", "django__django-11099": None})
    assert_user_error(clade("eval", "--predictions", str(unknown)),
                      "django__django-11099 (line 2)", "benchmark builtin does not have", "--benchmark")
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(good.read_text() + '{"instance_id": "calc__floor-division", "model_patch": \n')
    assert_user_error(clade("eval", "--predictions", str(malformed)), "malformed.jsonl, line 2: not valid JSON")
    no_patch = tmp_path / "no-patch.jsonl"
    no_patch.write_text(good.read_text() + "\n" + json.dumps({"instance_id": "calc__floor-division"}) + "\n")
    assert_user_error(clade("eval", "--predictions", str(no_patch)), "line 3 (calc__floor-division): no model_patch")
    assert_user_error(clade("eval", "--predictions", str(good), "--tasks", TASKS.split(",")[1]),
                      "predicts none of the --tasks ids")
    assert_user_error(clade("eval", "--predictions", str(tmp_path / "none.jsonl")), "no predictions file at")


def test_table_and_summary_show_tampering_and_set_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli.eval import OUTCOME_STYLE, _print_table, summarize

    monkeypatch.setenv("COLUMNS", "220")
    results = [
        TaskResult(task_id="a", benchmark="builtin", agent="m", outcome=Outcome.TAMPERED,
                   reason="a canary test [must fail] passed", tampering={"rule": "canary", "detail": "c1 passed"}),
        TaskResult(task_id="b", benchmark="builtin", agent="m", outcome=Outcome.UNRESOLVED, reason="1 of 1 fail",
                   set_aside=["tests/test_b.py", "conftest.py"]),
        TaskResult(task_id="c", benchmark="builtin", agent="m", outcome=Outcome.RESOLVED, reason="all pass"),
    ]
    summary = summarize(results, 1.0)
    assert (summary["tampered"], summary["unresolved"], summary["resolved"], summary["score"]) == (1, 1, 1, 0.3333)
    assert OUTCOME_STYLE["tampered"] not in [v for k, v in OUTCOME_STYLE.items() if k != "tampered"]
    assert set(OUTCOME_STYLE) == {o.value for o in Outcome}
    _print_table(results, summary, tmp_path)
    out = capsys.readouterr().out
    assert "a canary test [must fail] passed · tampering: canary" in out
    assert "1 of 1 fail · 2 set-aside files" in out
    assert "all pass ·" not in out
    assert "1/3 resolved" in out and "1 tampered" in out


@pytest.mark.docker
def test_predictions_gold_resolve_and_empty_do_not(clade_home: CladeHome, sandbox_image: str,
                                                   tmp_path: Path) -> None:
    ids = TASKS.split(",")
    patches = gold_patches(*ids)
    gold = write_predictions(tmp_path / "gold.jsonl", patches, "my-org/gold-7b")
    result = clade("eval", "--predictions", str(gold), "--workers", "2", "--json", "--out", str(tmp_path / "g"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert (summary["tasks"], summary["resolved"], summary["tampered"], summary["score"]) == (2, 2, 0, 1.0)
    assert summary["agent"] == "my-org/gold-7b" and summary["predictions"] == str(gold)
    assert [t["task_id"] for t in report["tasks"]] == ids
    for task in report["tasks"]:
        assert task["outcome"] == "resolved" and task["agent"] == "my-org/gold-7b", task
        assert "tampering" in task and task["tampering"] is None and task["set_aside"] == [], task
        assert not task["empty_patch"] and task["patch_bytes"] > 0
    assert json.loads((tmp_path / "g" / "report.json").read_text()) == report

    # null and "" are empty patches; two model names: the first one is used, and the user is told.
    empty = write_predictions(tmp_path / "empty.jsonl", {ids[0]: None, ids[1]: ""}, "my-org/empty", "other")
    result = clade("eval", "--predictions", str(empty))
    assert result.returncode == 0, result.stderr
    assert "0/2 resolved" in result.stdout and "2 unresolved" in result.stdout and "0 tampered" in result.stdout
    assert "note: empty.jsonl names 2 models ('my-org/empty', 'other')" in result.stderr
    [out_dir] = (clade_home.root / "evals").glob("*-builtin-my-org-empty")
    tasks = json.loads((out_dir / "report.json").read_text())["tasks"]
    assert {(t["outcome"], t["empty_patch"], t["agent"]) for t in tasks} == {("unresolved", True, "my-org/empty")}


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


def test_an_exported_agent_and_a_folder_are_scored_anywhere(clade_home: CladeHome, seed_agent: Path,
                                                           sandbox_image: str, tmp_path: Path, scripted_model) -> None:
    """`clade eval --agent PATH`: the .tar.gz `clade export` wrote, or a folder holding agent/;
    a stand-in agent that applies the gold patch of its one task resolves it either way."""
    from archive.export import export_node

    task = open_benchmark("builtin").load(ids=["calc__floor-division"])[0]
    (seed_agent / "gold.diff").write_text(task.patch)
    (seed_agent / "__main__.py").write_text(
        "import argparse, pathlib, subprocess\np = argparse.ArgumentParser()\n"
        "[p.add_argument(a) for a in ('--problem', '--repo', '--out')]\nargs = p.parse_args()\n"
        "gold = pathlib.Path(__file__).with_name('gold.diff')\n"
        "subprocess.run(['git', 'apply', str(gold)], cwd=args.repo, check=True)\n"
        "out = pathlib.Path(args.out); out.mkdir(parents=True, exist_ok=True)\n"
        "diff = subprocess.run(['git', 'diff'], cwd=args.repo, capture_output=True, text=True).stdout\n"
        "(out / 'patch.diff').write_text(diff)\n")
    archive = open_archive(clade_home)
    try:
        run, root = archive.create_run("export-me", {}, seed_agent)
        exported = export_node(archive, root.id, tmp_path / "best-agent.tar.gz")
    finally:
        archive.close()
    _, access = scripted_model(["unused"])
    for agent in (str(exported), str(seed_agent.parent)):
        result = clade("eval", "--tasks", task.instance_id, "--agent", agent, "--json",
                       "--llm-socket", access.socket_path, "--model", "scripted")
        assert result.returncode == 0, result.stderr
        [scored] = json.loads(result.stdout)["tasks"]
        assert scored["outcome"] == "resolved", scored["reason"]
        assert scored["agent"] == agent


def test_a_path_that_is_not_an_agent_is_one_clear_error(clade_home: CladeHome, tmp_path: Path) -> None:
    import tarfile

    assert_user_error(clade("eval", "--tasks", "calc__floor-division", "--agent", str(tmp_path)), "holds no agent/")
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tar:
        link = tarfile.TarInfo("agent/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    assert_user_error(clade("eval", "--tasks", "calc__floor-division", "--agent", str(hostile)),
                      "cannot be unpacked safely")
