"""Every built-in task is sound, proved outside Docker with real git and pytest.

For each task: its files give the recorded base commit; on the base code
(the no-op agent) every FAIL_TO_PASS test fails and every PASS_TO_PASS test
passes; with the gold patch all pass; the patches touch only what they
should; the problem statement does not name the hidden tests.
"""

from __future__ import annotations

import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from evaluator import gitrepo
from evaluator.benchmarks import builtin
from evaluator.builtin_tools import fix_task, validate_subsets, validate_task
from evaluator.errors import BadTask, UnknownTask

TASK_IDS = [d.name for d in builtin.task_dirs()]


def test_at_least_sixty_tasks_with_a_spread_of_difficulty() -> None:
    tasks = builtin.load()
    assert len(tasks) >= 60
    difficulty = Counter(t.difficulty for t in tasks)
    assert {"easy", "medium", "hard"} <= set(difficulty)
    multi_file = [t for t in tasks if t.patch.count("diff --git") > 1]
    assert len(multi_file) >= 5
    assert len({t.repo for t in tasks}) >= 10


def test_subsets() -> None:
    assert validate_subsets() == []
    names = builtin.subsets()
    assert (len(names["small"]), len(names["medium"])) == (10, 50)
    assert len(names["full"]) == len(TASK_IDS)
    assert [t.instance_id for t in builtin.load("small")] == names["small"]


def test_unknown_ids_and_subsets_are_user_errors() -> None:
    with pytest.raises(UnknownTask, match="no task nope"):
        builtin.load(ids=["nope"])
    with pytest.raises(UnknownTask, match="subset 'huge'"):
        builtin.load("huge")


def test_every_task_is_sound() -> None:
    """All tasks at once on a small pool (each runs two pytest processes)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(validate_task, builtin.load()))
    problems = [f"{r.task_id}: {p}" for r in reports for p in r.problems]
    assert problems == []
    assert len(reports) == len(TASK_IDS)


def test_base_commit_is_a_function_of_the_files(tmp_path: Path) -> None:
    task = builtin.load(ids=[TASK_IDS[0]])[0]
    first = gitrepo.init_repo(tmp_path / "a", task.source_dir)
    second = gitrepo.init_repo(tmp_path / "b", task.source_dir)
    assert first == second == task.base_commit


def test_edited_files_are_caught_and_fix_re_records_them(tmp_path: Path) -> None:
    source = builtin.ROOT / "tasks" / "numfmt__ordinal-teens"
    copy = tmp_path / "numfmt__ordinal-teens"
    shutil.copytree(source, copy)
    readme = copy / "repo" / "README.md"
    readme.write_text(readme.read_text() + "\nOne more line.\n")
    task = builtin.load_task_dir(copy)
    with pytest.raises(BadTask, match="re-record"):
        gitrepo.materialize(copy / "repo", tmp_path / "repo", task.base_commit, task_id=task.instance_id)
    changes = fix_task(copy)
    assert any(c.startswith("base_commit") for c in changes)
    fixed = builtin.load_task_dir(copy)
    assert fixed.base_commit != task.base_commit
    assert fixed.FAIL_TO_PASS == task.FAIL_TO_PASS
    assert validate_task(fixed).problems == []


def test_a_broken_gold_patch_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "task"
    shutil.copytree(builtin.ROOT / "tasks" / "numfmt__ordinal-teens", copy)
    (copy / "gold.patch").write_text("")  # the gold agent would change nothing
    problems = validate_task(builtin.load_task_dir(copy)).problems
    assert any("gold patch does not resolve" in p for p in problems)


def test_task_metadata_is_swebench_shaped() -> None:
    meta = yaml.safe_load((builtin.ROOT / "tasks" / TASK_IDS[0] / "task.yaml").read_text())
    for key in ("instance_id", "repo", "version", "base_commit", "log_parser", "eval_type", "split"):
        assert key in meta
