"""The Polyglot loader on a tiny checkout in the real layout (tests/evaluator/fixtures/polyglot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator import GOLD, NOOP, EvalOptions, Outcome, evaluate_tasks, gitrepo, local, open_benchmark
from evaluator.benchmarks.polyglot import PolyglotBenchmark
from evaluator.errors import DatasetUnavailable, UnknownTask


def test_ids_and_subsets(polyglot_root: Path) -> None:
    bench = open_benchmark(f"polyglot:{polyglot_root}")
    assert bench.subsets()["full"] == ["go__hello", "python__leap", "python__word-count"]
    assert bench.subsets()["python"] == ["python__leap", "python__word-count"]
    assert set(bench.subsets()["small"]) <= set(bench.subsets()["full"])


def test_agent_sees_instructions_and_stub_but_not_tests_or_example(polyglot_root: Path, tmp_path: Path) -> None:
    task = PolyglotBenchmark(polyglot_root).task("python__word-count")
    assert "Count how many times each word occurs" in task.problem_statement
    assert "Return a plain `dict`." in task.problem_statement  # instructions.append.md
    assert "word_count.py" in task.problem_statement
    gitrepo.materialize(task.source_dir, tmp_path / "repo", task.base_commit, exclude=task.source_exclude)
    files = {p.relative_to(tmp_path / "repo").as_posix() for p in (tmp_path / "repo").rglob("*") if p.is_file()
             and ".git/" not in p.as_posix()}
    assert "word_count.py" in files
    assert "word_count_test.py" not in files
    assert not any(f.startswith(".meta/") for f in files)
    assert "+++ b/word_count_test.py" in task.test_patch
    assert task.FAIL_TO_PASS == [
        "word_count_test.py::WordCountTest::test_one_word",
        "word_count_test.py::WordCountTest::test_case_and_punctuation",
        "word_count_test.py::WordCountTest::test_apostrophes",
    ]


def test_gold_is_the_example_solution_and_grades_locally(polyglot_root: Path) -> None:
    task = PolyglotBenchmark(polyglot_root).task("python__leap")
    assert "year % 400 == 0" in task.patch
    assert local.run_tests(task, task.patch).grade.resolved
    base = local.run_tests(task, "")
    assert not base.grade.resolved and base.grade.status.fail_to_pass_failure == task.FAIL_TO_PASS


def test_other_languages_are_graded_by_exit_status(polyglot_root: Path) -> None:
    task = PolyglotBenchmark(polyglot_root).task("go__hello")
    assert task.FAIL_TO_PASS == ["polyglot::go__hello"]
    assert "go test ./..." in task.eval_script
    assert "echo 'PASSED polyglot::go__hello'" in task.eval_script
    assert "+++ b/hello_test.go" in task.test_patch


def test_bad_checkout_and_unknown_ids(polyglot_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable, match="no polyglot checkout"):
        PolyglotBenchmark(tmp_path / "missing")
    with pytest.raises(DatasetUnavailable, match="exercises/practice"):
        PolyglotBenchmark(tmp_path)
    with pytest.raises(UnknownTask, match="python__nope"):
        PolyglotBenchmark(polyglot_root).load(ids=["python__nope"])


@pytest.mark.docker
def test_gold_and_noop_in_the_sandbox(polyglot_root: Path, sandbox_image: str, tmp_path: Path) -> None:
    tasks = PolyglotBenchmark(polyglot_root).load("python")
    options = EvalOptions(image=sandbox_image, log_root=tmp_path)
    assert [r.outcome for r in evaluate_tasks(tasks, GOLD, options, workers=2)] == [Outcome.RESOLVED] * 2
    assert [r.outcome for r in evaluate_tasks(tasks, NOOP, options, workers=2)] == [Outcome.UNRESOLVED] * 2


@pytest.mark.docker
def test_go_exercise_in_the_toolchain_image(polyglot_root: Path, sandbox_image: str, tmp_path: Path) -> None:
    """Behind the build flag: the polyglot image (built once, then cached by tag) runs `go test`."""
    from evaluator import polyglot_image

    image = polyglot_image.build(("cpp", "go"), sandbox_image)
    task = PolyglotBenchmark(polyglot_root, image=image).task("go__hello")
    gold = evaluate_tasks([task], GOLD, EvalOptions(log_root=tmp_path / "gold"))[0]
    noop = evaluate_tasks([task], NOOP, EvalOptions(log_root=tmp_path / "noop"))[0]
    assert gold.outcome == Outcome.RESOLVED, gold.reason
    assert "ok  \thello" in (Path(gold.log_dir) / "test_output.txt").read_text()
    assert noop.outcome == Outcome.UNRESOLVED and "polyglot::go__hello" in noop.reason


def test_missing_toolchain_image_says_how_to_build_it(polyglot_root: Path) -> None:
    from evaluator.errors import ImageUnavailable
    from evaluator.images import require_images

    task = PolyglotBenchmark(polyglot_root, image="clade-polyglot:notbuilt").task("go__hello")
    with pytest.raises(ImageUnavailable, match="python -m evaluator.polyglot_image build"):
        require_images([task])
