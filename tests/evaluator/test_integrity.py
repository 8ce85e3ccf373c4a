"""The grader's parts, without Docker: test discovery, renaming and canaries, what the task owns,
and the verdict's cross-checks. The red-team suite (test_redteam.py) attacks them end to end."""

from __future__ import annotations

import json
import ast
import random
from pathlib import Path

import pytest

from evaluator import protect, verdict
from evaluator.languages import clike, cpp, go, mutate, python, rust
from evaluator.languages.base import Rewrite

FIXTURES = Path(__file__).parent / "fixtures" / "polyglot"


def _fixture(lang: str, exercise: str, rel: str) -> str:
    return (FIXTURES / lang / "exercises" / "practice" / exercise / rel).read_text()


def test_python_tests_are_found_as_pytest_finds_them() -> None:
    text = ("import unittest\nfrom x import *\n\nclass HangmanTests(unittest.TestCase):\n    def test_a(self):\n"
            "        pass\n    def helper(self):\n        pass\n\nclass Derived(HangmanTests):\n    def test_b(self):\n"
            "        pass\n\nclass Helpers:\n    def test_not_collected(self):\n        pass\n\nclass TestPlain:\n"
            "    def test_c(self):\n        pass\n\ndef test_d():\n    pass\n")
    ids = [t.test_id for t in python.discover("t_test.py", text)]
    assert ids == ["t_test.py::HangmanTests::test_a", "t_test.py::Derived::test_b", "t_test.py::TestPlain::test_c",
                   "t_test.py::test_d"]


def test_python_rewrite_renames_every_expected_test_and_adds_canaries() -> None:
    text = _fixture("python", "leap", "leap_test.py")
    tests = python.discover("leap_test.py", text)
    expected = {t.test_id for t in tests}
    first = python.rewrite({"leap_test.py": text}, expected, random.Random(1))
    second = python.rewrite({"leap_test.py": text}, expected, random.Random(2))
    new = first.files["leap_test.py"]
    ast.parse(new)  # still Python
    assert sorted(first.real.values()) == sorted(expected)
    assert not any(t.name in new for t in tests)  # no real name is left to aim at
    assert set(first.real) != set(second.real)  # fresh every run
    assert len(first.must_fail) == 2 and len(first.must_pass) == 2
    names = [t.test_id for t in python.discover("leap_test.py", new)]
    assert set(first.must_fail) | set(first.must_pass) | set(first.real) == set(names)
    # a must-fail canary is its real twin's own text with one assertion turned: nothing else tells them apart
    found = {t.test_id: t for t in python.discover("leap_test.py", new)}
    clone = found[first.must_fail[0]]
    twin_id = first.template[first.must_fail[0]]
    twin = found[next(new_id for new_id, old in first.real.items() if old == twin_id)]
    clone_text = new[clone.block[0]:clone.block[1]].replace(clone.name, "NAME")
    twin_text = new[twin.block[0]:twin.block[1]].replace(twin.name, "NAME")
    assert clone_text != twin_text and len(clone_text.split()) == len(twin_text.split())
    assert sum(a != b for a, b in zip(clone_text.split(), twin_text.split())) == 1


@pytest.mark.parametrize(("lang", "exercise", "rel", "shape", "count"), [
    ("go", "hello", "hello_test.go", go.SHAPE, 1),
    ("go", "transpose", "transpose_test.go", go.SHAPE, 1),
    ("rust", "leap", "tests/leap.rs", rust.SHAPE, 5),
    ("cpp", "leap", "leap_test.cpp", cpp.SHAPE, 5),
])
def test_brace_languages_rename_and_clone(lang: str, exercise: str, rel: str, shape: clike.Shape,
                                          count: int) -> None:
    text = _fixture(lang, exercise, rel)
    tests = clike.discover(shape, rel, text)
    assert len(tests) == count
    out = clike.rewrite(shape, {rel: text}, {t.test_id for t in tests}, random.Random(7))
    new = out.files[rel]
    assert new.count("{") == new.count("}")
    found = {t.name for t in clike.discover(shape, rel, new)}
    assert found == set(out.real) | set(out.must_fail) | set(out.must_pass)
    assert not any(t.name in found for t in tests)
    assert len(out.must_fail) == 2 and len(out.must_pass) == 2
    for canary in out.must_fail:  # the real text, one assertion turned: no marker of its own
        assert "unexpected result" not in new.split(canary, 1)[1].split("\n}", 1)[0]


def test_brace_scanner_ignores_braces_in_strings_and_comments() -> None:
    text = ('func TestA(t *testing.T) {\n\ts := "}"\n\t// }\n\tr := `{`\n\t_ = \'}\'\n}\n'
            'func TestB(t *testing.T) {\n}\n')
    tests = clike.discover(go.SHAPE, "a_test.go", text)
    assert [t.name for t in tests] == ["TestA", "TestB"]
    assert text[tests[0].block[0]:tests[0].block[1]].endswith("'}'\n}")


def test_rust_should_panic_tests_are_never_templates() -> None:
    text = "#[test]\n#[should_panic]\nfn panics() {\n    panic!()\n}\n"
    assert clike.discover(rust.SHAPE, "tests/x.rs", text)[0].template is False


@pytest.mark.parametrize(("path", "language", "new", "owned"), [
    ("conftest.py", "python", True, True), ("src/pkg/conftest.py", "python", False, True),
    ("pytest.ini", "python", True, True), ("setup.cfg", "python", False, True),
    ("sitecustomize.py", "python", True, True), ("lib/evil.pth", "python", True, True),
    ("pytest.py", "python", True, True), ("unittest.py", "python", True, True),
    ("json/__init__.py", "python", True, True), ("calendar/core.py", "python", False, False),
    ("inventory/core.py", "python", False, False), ("tests/test_x.py", "python", True, True),
    ("tests/helpers/data.json", "python", True, True), ("leap.py", "python", False, False),
    ("cases_test.go", "go", False, True), ("go.mod", "go", False, True), ("zz_test.go", "go", True, True),
    ("transpose.go", "go", False, False),
    ("Cargo.toml", "rust", False, True), ("build.rs", "rust", True, True), (".cargo/config.toml", "rust", True, True),
    ("tests/other.rs", "rust", True, True), ("src/lib.rs", "rust", False, False),
    ("CMakeLists.txt", "cpp", False, True), ("test/tests-main.cpp", "cpp", False, True),
    ("leap.cpp", "cpp", False, False), (".git/config", "cpp", False, True),
    ("package.json", "javascript", False, True), ("build.gradle", "java", False, True),
])
def test_what_the_task_owns(path: str, language: str, new: bool, owned: bool) -> None:
    hidden = ["tests/test_x.py"] if language == "python" else []
    assert protect.owned(path, language=language, hidden=hidden, new=new) is owned


def _rewrite() -> Rewrite:
    return Rewrite(real={"t.py::test_r1": "t.py::test_real"}, must_fail=["t.py::test_f1"],
                   must_pass=["t.py::test_p1"], where={"t.py::test_f1": "t.py", "t.py::test_p1": "t.py"},
                   template={"t.py::test_f1": "t.py::test_real"})


def test_a_canary_that_passes_beside_its_failing_twin_is_an_honest_wrong_answer() -> None:
    """The code returned the canary's (wrong) value: the real test failed, no forgery shown."""
    seen = verdict.from_suite(_suite({"t.py::test_r1": "failed", "t.py::test_f1": "passed",
                                      "t.py::test_p1": "passed"}), _rewrite())
    assert seen.tampering is None and seen.statuses == {"t.py::test_real": "FAILED"}


def _record(node: str, when: str, outcome: str) -> str:
    return f"test {node.encode().hex()} {when} {outcome} -"


def _suite(results: dict[str, str], exit_code: int = 1) -> dict:
    records = [_record(node, "call", outcome) for node, outcome in results.items()]
    return {"mode": "suite", "exit_code": exit_code, "records": records + [f"end {'.'.encode().hex()} session "
                                                                           f"{exit_code} -"]}


def test_an_honest_suite_is_read_back_under_the_task_ids() -> None:
    seen = verdict.from_suite(_suite({"t.py::test_r1": "passed", "t.py::test_f1": "failed",
                                      "t.py::test_p1": "passed"}), _rewrite())
    assert seen.tampering is None and seen.statuses == {"t.py::test_real": "PASSED"}


@pytest.mark.parametrize(("results", "exit_code", "rule"), [
    ({"t.py::test_r1": "passed", "t.py::test_f1": "passed", "t.py::test_p1": "passed"}, 1, "canary-passed"),
    ({"t.py::test_r1": "passed", "t.py::test_p1": "passed"}, 1, "canary-missing"),
    ({"t.py::test_r1": "passed", "t.py::test_f1": "failed", "t.py::test_p1": "passed"}, 0, "exit-status"),
    ({}, 0, "exit-status"),
])
def test_forgery_is_caught(results: dict[str, str], exit_code: int, rule: str) -> None:
    seen = verdict.from_suite(_suite(results, exit_code), _rewrite())
    assert seen.tampering is not None and seen.tampering["rule"] == rule


def test_a_test_reported_twice_with_different_results_is_tampering() -> None:
    report = _suite({"t.py::test_r1": "failed", "t.py::test_f1": "failed", "t.py::test_p1": "passed"})
    report["records"].append(_record("t.py::test_r1", "call", "passed"))
    assert verdict.from_suite(report, _rewrite()).tampering["rule"] == "reported-twice"


def test_a_file_that_did_not_collect_loses_its_tests_without_blame() -> None:
    report = {"mode": "suite", "exit_code": 2, "records": [f"collect {'t.py'.encode().hex()} collect failed -"]}
    seen = verdict.from_suite(report, _rewrite())
    assert seen.tampering is None and seen.statuses == {}
    assert "collection errors" in seen.notes[0]


def test_each_mode_reads_exit_status_and_catches_a_passing_must_fail_canary() -> None:
    rewrite = Rewrite(real={"TestA1": "a_test.go::TestA"}, must_fail=["TestF1"], must_pass=["TestP1"],
                      where={"TestA1": "a_test.go", "TestF1": "a_test.go", "TestP1": "a_test.go"},
                      template={"TestF1": "a_test.go::TestA"})

    def run(name: str, code: int) -> dict:
        return {"id": name, "exit_code": code, "output": f"--- {'PASS' if code == 0 else 'FAIL'}: {name} (0.00s)"}

    honest = {"mode": "each", "tests": [run("TestA1", 0), run("TestF1", 1), run("TestP1", 0)]}
    assert verdict.from_each(honest, rewrite, go.status).statuses == {"a_test.go::TestA": "PASSED"}
    forced = {"mode": "each", "tests": [run("TestA1", 0), run("TestF1", 0), run("TestP1", 0)]}
    assert verdict.from_each(forced, rewrite, go.status).tampering["rule"] == "canary-passed"
    # exit 0 before any test ran: no pass line, so not a pass
    early = {"mode": "each", "tests": [{"id": "TestA1", "exit_code": 0, "output": ""}]}
    assert verdict.from_each(early, rewrite, go.status).statuses == {"a_test.go::TestA": "FAILED"}


@pytest.mark.parametrize(("turn", "body", "turned"), [
    (mutate.rust_body, "assert_eq!(f(2), 4);", "assert_eq!(f(2), 5);"),
    (mutate.rust_body, "assert_eq!(f(2), want);", "assert_ne!(f(2), want);"),
    (mutate.rust_body, "assert!(!is_leap_year(2015));", "assert!(is_leap_year(2015));"),
    (mutate.rust_body, "assert!(!(a, b).0);", "assert!((a, b).0);"),
    (mutate.rust_body, "assert!(a.len() > b.len());", "assert!(!(a.len() > b.len()));"),
    (mutate.rust_body, "assert!(f(x) > g(y));", "assert!(!(f(x) > g(y)));"),
    (mutate.rust_body, "assert!(!a && b);", "assert!(!(!a && b));"),
    (mutate.rust_body, "assert!(!(a < b));", "assert!(a < b);"),
    (mutate.rust_body, "assert!(v.is_empty(), \"msg\");", "assert!(!v.is_empty(), \"msg\");"),
    (mutate.rust_body, 'assert_eq!(reply("Hi"), "Whatever.");', 'assert_eq!(reply("Hi"), "Whatever.");'),
    (mutate.cpp_body, "REQUIRE(leap::is_leap_year(2015) == false);", "REQUIRE(leap::is_leap_year(2015) == true);"),
    (mutate.cpp_body, "REQUIRE(a == b);", "REQUIRE(a != b);"),
    (mutate.cpp_body, "REQUIRE_FALSE(x());", "REQUIRE(x());"),
    (mutate.go_body, 'if Hello() != "Hello, World!" {\n\tt.Fatal("x")\n}', 'if Hello() != "Hello, World!" {\n\tt.Fatal("x")\n}'),
    (mutate.go_body, "if got := f(); !reflect.DeepEqual(got, want) {\n\tt.Errorf(\"x\")\n}",
     "if got := f(); reflect.DeepEqual(got, want) {\n\tt.Errorf(\"x\")\n}"),
])
def test_the_first_assertion_is_turned(turn, body: str, turned: str) -> None:  # noqa: ANN001
    result = turn(body)
    if turned == body:  # a string literal: its last letter moves on, the rest stays
        assert result is not None and result != body and len(result) == len(body)
    else:
        assert result == turned


def test_results_reach_swebench_as_pytest_lines() -> None:
    assert verdict.pytest_log({"a.rs::x": "PASSED", "b::y": "FAILED"}) == "PASSED a.rs::x\nFAILED b::y\n"


def test_cpp_tests_behind_their_own_flag_are_not_tests() -> None:
    text = ('#ifdef EXERCISM_TEST_SUITE\n#include <catch2/catch.hpp>\n#else\n#include "test/catch.hpp"\n#endif\n'
            'TEST_CASE("first") {\n}\n#if defined(EXERCISM_RUN_ALL_TESTS)\nTEST_CASE("second") {\n}\n#endif\n'
            '#if defined(EXERCISM_INCLUDE_BENCHMARK)\nTEST_CASE("benchmark") {\n}\n#endif\n')
    assert [t.name for t in clike.discover(cpp.SHAPE, "x_test.cpp", text)] == ["first", "second"]


def test_rust_tests_behind_a_cargo_feature_are_not_tests() -> None:
    text = ('#[test]\nfn plain() {\n}\n\n#[test]\n#[cfg(feature = "advanced")]\nfn after() {\n}\n\n'
            '#[cfg(feature = "exponentials")]\n#[test]\n#[ignore]\nfn before() {\n}\n\n#[test]\n#[ignore]\nfn kept() {\n}\n')
    assert [t.name for t in clike.discover(rust.SHAPE, "tests/x.rs", text)] == ["plain", "kept"]


def test_a_swebench_install_step_runs_as_the_tests_user_never_as_the_grader() -> None:
    """`pip install -e .` in an eval script runs the patched setup.py: never with the grader's rights."""
    from evaluator import grader
    from evaluator.benchmarks.swe_bench import row_task
    from tests.evaluator.test_swebench import swebench_row

    row = swebench_row("img", "abc123")
    row["eval_script"] = row["eval_script"].replace("git status\n", "git status\npython -m pip install -e .\n")
    grader_lines, test_lines = grader._split_prefix(row_task(row))
    assert "python -m pip install -e ." in test_lines
    assert not any("pip install" in line for line in grader_lines)
    assert any(line.startswith("git apply") for line in grader_lines) and "+def test_token():" in grader_lines
    assert not any(line.startswith(("git ", "+")) for line in test_lines)


def test_rust_doc_comments_between_the_attribute_and_the_function() -> None:
    text = "#[test]\n#[ignore]\n/// Chromatic scale with flats\nfn chromatic_scale_with_flats() {\n}\n"
    assert [t.name for t in clike.discover(rust.SHAPE, "tests/x.rs", text)] == ["chromatic_scale_with_flats"]


def test_processes_that_exit_0_without_their_tests_reported_are_tampering() -> None:
    """Code that ends every test process with status 0 before the framework reports: no canary shows up."""
    rewrite = Rewrite(real={"TestA1": "a_test.go::TestA"}, must_fail=["TestF1"], must_pass=["TestP1"],
                      where={"TestA1": "a_test.go", "TestF1": "a_test.go", "TestP1": "a_test.go"},
                      template={"TestF1": "a_test.go::TestA"})
    quiet = {"mode": "each", "tests": [{"id": n, "exit_code": 0, "output": ""} for n in ("TestA1", "TestF1", "TestP1")]}
    seen = verdict.from_each(quiet, rewrite, go.status)
    assert seen.tampering["rule"] == "canary-missing" and seen.statuses == {"a_test.go::TestA": "FAILED"}


def test_a_build_that_fails_is_reported_by_its_compiler_error_line() -> None:
    """Not by the first line that mentions an error: cargo's artifact messages name crates like `thiserror`."""
    from evaluator import grader

    artifact = json.dumps({"reason": "compiler-artifact", "package_id": "thiserror 1.0.40", "target": {}})
    rustc = json.dumps({"reason": "compiler-message", "message": {
        "rendered": "error[E0425]: cannot find function `nth` in this scope\n --> src/lib.rs:3:5\n"}})
    output = "\n".join(["   Compiling thiserror-impl v1.0.40", artifact, rustc, "error: could not compile `grep`"])
    assert grader._error_line(output) == "error[E0425]: cannot find function `nth` in this scope"
    gcc = "[ 50%] Building CXX object\n/work/x/leap.cpp:4:1: error: 'bool' does not name a type\nmake: *** Error 2"
    assert grader._error_line(gcc) == "/work/x/leap.cpp:4:1: error: 'bool' does not name a type"
    assert grader._error_line("CMake Warning: x\nCMake Error at CMakeLists.txt:12 (find_package):") \
        == "CMake Error at CMakeLists.txt:12 (find_package):"
    assert grader._error_line("something odd\nlast words") == "last words"


def test_the_crash_line_is_pytests_error_line_or_the_exception() -> None:
    collected = ("==== ERRORS ====\n___ ERROR collecting tests/test_calc.py ___\ntests/test_calc.py:1: in <module>\n"
                 "    import calc\nE   RuntimeError: calc is broken\n=== short test summary info ===\n")
    assert verdict.crash_line(collected) == "RuntimeError: calc is broken"
    bare = "Traceback (most recent call last):\n  File \"x.py\", line 1\nModuleNotFoundError: No module named 'y'\n"
    assert verdict.crash_line(bare) == "ModuleNotFoundError: No module named 'y'"
    assert verdict.crash_line("Segmentation fault\n") == "Segmentation fault"
