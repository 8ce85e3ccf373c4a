"""The Polyglot loader on a tiny checkout in the real layout (tests/evaluator/fixtures/polyglot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator import GOLD, NOOP, EvalOptions, Outcome, evaluate_tasks, gitrepo, local, open_benchmark
from evaluator.benchmarks.polyglot import PolyglotBenchmark
from evaluator.errors import DatasetUnavailable, UnknownTask


def test_ids_and_subsets(polyglot_root: Path) -> None:
    bench = open_benchmark(f"polyglot:{polyglot_root}")
    assert bench.subsets()["full"] == ["cpp__leap", "go__hello", "go__transpose", "python__hangman", "python__leap",
                                       "python__word-count", "rust__leap"]
    assert bench.subsets()["python"] == ["python__hangman", "python__leap", "python__word-count"]
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


def test_every_language_is_graded_test_by_test(polyglot_root: Path) -> None:
    """Test ids are found the way each language's runner finds them, never one id per exercise."""
    bench = PolyglotBenchmark(polyglot_root)
    assert bench.task("go__hello").FAIL_TO_PASS == ["hello_test.go::TestHello"]
    assert bench.task("go__transpose").metadata["task_files"] == ["cases_test.go"]
    assert bench.task("rust__leap").FAIL_TO_PASS[0] == "tests/leap.rs::year_not_divisible_by_4_in_common_year"
    assert len(bench.task("rust__leap").FAIL_TO_PASS) == 5  # #[ignore]d tests too
    cpp = bench.task("cpp__leap")
    assert cpp.FAIL_TO_PASS[1] == "leap_test.cpp::year_divisible_by_2,_not_divisible_by_4_in_common_year"
    assert cpp.repo_dir == "/workspace/leap"  # exercism's CMakeLists.txt builds what the folder is named
    # unittest.TestCase subclasses of any name (HangmanTests) are tests, as pytest collects them
    assert len(bench.task("python__hangman").FAIL_TO_PASS) == 7
    assert all("polyglot::" not in t for task in bench.load() for t in task.FAIL_TO_PASS)


def test_an_exercise_without_tests_is_refused(polyglot_root: Path, tmp_path: Path) -> None:
    import shutil

    from evaluator.errors import BadTask

    root = tmp_path / "polyglot"
    shutil.copytree(polyglot_root / "python", root / "python")
    (root / "python/exercises/practice/leap/leap_test.py").write_text("import unittest\n\nclass Helpers:\n"
                                                                      "    def test_not_collected(self):\n"
                                                                      "        pass\n")
    with pytest.raises(BadTask, match="no test found"):
        PolyglotBenchmark(root).task("python__leap")


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
    assert [r.outcome for r in evaluate_tasks(tasks, GOLD, options, workers=2)] == [Outcome.RESOLVED] * 3
    assert [r.outcome for r in evaluate_tasks(tasks, NOOP, options, workers=2)] == [Outcome.UNRESOLVED] * 3


@pytest.mark.docker
@pytest.mark.parametrize("task_id", ["go__hello", "go__transpose", "rust__leap", "cpp__leap"])
def test_compiled_languages_in_the_toolchain_image(polyglot_root: Path, polyglot_image: str, tmp_path: Path,
                                                  task_id: str) -> None:
    """gold resolves and noop does not, each test run in its own process next to its canaries."""
    task = PolyglotBenchmark(polyglot_root, image=polyglot_image).task(task_id)
    gold, noop = (evaluate_tasks([task], agent, EvalOptions(log_root=tmp_path / agent.name))[0]
                  for agent in (GOLD, NOOP))
    assert gold.outcome == Outcome.RESOLVED, gold.reason
    log = (Path(gold.log_dir) / "test_output.txt").read_text()
    assert log.count("canary (must fail)") == 2 and log.count("canary (must pass)") == 2
    assert noop.outcome == Outcome.UNRESOLVED, noop.reason
    assert task.FAIL_TO_PASS[0] in noop.reason


def test_missing_toolchain_image_says_how_to_build_it(polyglot_root: Path) -> None:
    from evaluator.errors import ImageUnavailable
    from evaluator.images import require_images

    task = PolyglotBenchmark(polyglot_root, image="clade-polyglot:notbuilt").task("go__hello")
    with pytest.raises(ImageUnavailable, match="python -m evaluator.polyglot_image build"):
        require_images([task])
