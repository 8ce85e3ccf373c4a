"""The task model and the grading path (swebench's parsers and report), on real logs."""

from __future__ import annotations

import json

import pytest

from evaluator import tests_script, grading
from evaluator.task import Task


def make_task(**changes: object) -> Task:
    row = {
        "benchmark": "builtin",
        "instance_id": "demo__task",
        "repo": "clade/demo",
        "base_commit": "0" * 40,
        "problem_statement": "it is broken",
        "test_patch": "diff --git a/tests/test_x.py b/tests/test_x.py\n",
        "FAIL_TO_PASS": json.dumps(["tests/test_x.py::test_new"]),  # SWE-bench stores JSON strings
        "PASS_TO_PASS": ["tests/test_x.py::test_old"],
        "eval_script": "echo hi\n",
    }
    row.update(changes)
    return Task(**row)


def log(*lines: str, exit_code: int = 0, applied: bool = True) -> str:
    head = tests_script.APPLY_PATCH_PASS if applied else tests_script.APPLY_PATCH_FAIL
    body = "\n".join(lines)
    return (f"{head}\n{tests_script.START_TEST_OUTPUT}\n{body}\n{tests_script.END_TEST_OUTPUT}\n"
            f">>>>> Test Exit Code: {exit_code}\n")


def test_json_string_test_lists_are_parsed() -> None:
    task = make_task()
    assert task.FAIL_TO_PASS == ["tests/test_x.py::test_new"]
    assert task.swebench_instance()["log_parser"] == "parse_log_pytest"


def test_markers_are_swebench_markers() -> None:
    from swebench.harness import constants

    assert tests_script.START_TEST_OUTPUT == constants.START_TEST_OUTPUT
    assert tests_script.END_TEST_OUTPUT == constants.END_TEST_OUTPUT
    assert tests_script.APPLY_PATCH_FAIL == constants.APPLY_PATCH_FAIL
    assert tests_script.APPLY_PATCH_PASS == constants.APPLY_PATCH_PASS


def test_resolved_when_every_listed_test_passes() -> None:
    graded = grading.grade(make_task(), log("PASSED tests/test_x.py::test_new", "PASSED tests/test_x.py::test_old"),
                           patch="x")
    assert graded.resolved and graded.tests_ran
    assert graded.status is not None and graded.status.fail_to_pass_success == ["tests/test_x.py::test_new"]


def test_failing_new_test_is_named_in_the_reason() -> None:
    graded = grading.grade(
        make_task(),
        log("FAILED tests/test_x.py::test_new - AssertionError", "PASSED tests/test_x.py::test_old", exit_code=1),
        patch="x",
    )
    assert not graded.resolved
    assert "1 of 1 FAIL_TO_PASS tests still fail (tests/test_x.py::test_new)" in graded.reason


def test_broken_old_test_is_named_in_the_reason() -> None:
    graded = grading.grade(
        make_task(),
        log("PASSED tests/test_x.py::test_new", "FAILED tests/test_x.py::test_old - boom", exit_code=1),
        patch="x",
    )
    assert not graded.resolved
    assert "PASS_TO_PASS tests broken (tests/test_x.py::test_old)" in graded.reason


def test_missing_test_counts_as_failure() -> None:
    graded = grading.grade(make_task(), log("PASSED tests/test_x.py::test_old"), patch="x")
    assert not graded.resolved


def test_patch_that_did_not_apply() -> None:
    text = "error: patch failed: calc/parser.py:12\n" + tests_script.APPLY_PATCH_FAIL + "\n"
    graded = grading.grade(make_task(), text, patch="x")
    assert not graded.resolved and not graded.tests_ran
    assert graded.reason.startswith("the patch does not apply: error: patch failed: calc/parser.py:12")


def test_run_cut_short_before_the_end_marker() -> None:
    text = f"{tests_script.APPLY_PATCH_PASS}\n{tests_script.START_TEST_OUTPUT}\nPASSED tests/test_x.py::test_new\n"
    graded = grading.grade(make_task(), text, patch="x")
    assert not graded.resolved
    assert "did not finish" in graded.reason


def test_passes_printed_by_a_patch_do_not_fool_the_exit_code_check() -> None:
    # swebench cross-checks the log against the recorded exit status
    graded = grading.grade(make_task(), log("PASSED tests/test_x.py::test_new", "PASSED tests/test_x.py::test_old",
                                            exit_code=2), patch="x")
    assert not graded.resolved


def test_log_is_written_where_asked(tmp_path) -> None:
    text = log("PASSED tests/test_x.py::test_new", "PASSED tests/test_x.py::test_old")
    grading.grade(make_task(), text, patch="x", log_path=tmp_path / "logs" / "test_output.txt")
    assert (tmp_path / "logs" / "test_output.txt").read_text() == text


def test_eval_script_restores_hidden_files_and_records_exit_code() -> None:
    patch = ("diff --git a/tests/test_a.py b/tests/test_a.py\nnew file mode 100644\n--- /dev/null\n"
             "+++ b/tests/test_a.py\n@@ -0,0 +1 @@\n+def test_a(): pass\n")
    body = tests_script.build(repo_dir="/workspace/repo", base_commit="abc", test_patch=patch, test_cmd="pytest -rA")
    script = grading.eval_script(make_task(eval_script=body))
    assert script.startswith("#!/bin/bash\nset -uxo pipefail\n")
    assert "for f in tests/test_a.py;" in script
    assert "SWEBENCH_TEST_EXIT_CODE=$?" in script
    assert tests_script.patch_paths(patch) == ["tests/test_a.py"]


def test_heredoc_marker_inside_a_test_patch_is_refused() -> None:
    with pytest.raises(ValueError):
        tests_script.build(repo_dir="/r", base_commit="abc", test_patch=tests_script.HEREDOC, test_cmd="true")
