"""The Polyglot loader on a tiny checkout in the real layout (tests/evaluator/fixtures/polyglot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator import GOLD, NOOP, EvalOptions, Outcome, evaluate_tasks, gitrepo, local, open_benchmark
from evaluator.benchmarks.polyglot import PolyglotBenchmark
from evaluator.errors import DatasetUnavailable, UnknownTask


def test_ids_and_subsets(polyglot_root: Path) -> None:
    bench = open_benchmark(f"polyglot:{polyglot_root}")
    assert bench.subsets()["full"] == ["cpp__leap", "go__hello", "go__transpose", "java__zebra-puzzle",
                                       "javascript__resistor-color-trio", "python__hangman", "python__leap",
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


# -- JavaScript and Java: Debian's Jest / JDK + JUnit 5, no npm or Gradle download ---------------------------------

JS_TASK, JAVA_TASK = "javascript__resistor-color-trio", "java__zebra-puzzle"


def test_javascript_and_java_tests_are_found_as_their_runners_find_them(polyglot_root: Path) -> None:
    """Every test switched on (xtest → test, @Disabled dropped, as Aider does), ids per test."""
    bench = PolyglotBenchmark(polyglot_root)
    js = bench.task(JS_TASK)
    assert js.FAIL_TO_PASS[0] == "resistor-color-trio.spec.js::Resistor_Color_Trio::Orange_and_orange_and_black"
    assert len(js.FAIL_TO_PASS) == 6
    assert "xtest(" not in js.test_patch and "+  test('Invalid color'" in js.test_patch
    java = bench.task(JAVA_TASK)
    assert java.FAIL_TO_PASS == ["src/test/java/ZebraPuzzleTest.java::ZebraPuzzleTest::residentWhoDrinksWater",
                                 "src/test/java/ZebraPuzzleTest.java::ZebraPuzzleTest::residentWhoOwnsZebra"]
    assert "@Disabled(" not in java.test_patch
    assert java.image == js.image  # the toolchain image
    assert "class ZebraPuzzle" in java.patch and "export class ResistorColorTrio" in js.patch


def test_javascript_discovery_nests_describes_and_skips_what_jest_skips() -> None:
    from evaluator.languages import javascript

    text = javascript.prepare(
        "describe('outer', () => {\n"
        "  describe('in ner', () => {\n"
        "    xtest('a [b]', () => expect(f(1)).toEqual(2));\n"
        "    xit(\"c\", async () => {\n      await expect(g()).resolves.toBe('x');\n    });\n"
        "  });\n"
        "  test.skip('slow', () => {});\n"
        "  [1, 2].forEach((n) => { test(`made ${n}`, () => {}); });\n"
        "  const re = /'\\)}/; // test('in a comment', () => {})\n"
        "  test('last', function () { expect(h()).not.toBeNull(); });\n"
        "});\n")
    assert [t.test_id for t in javascript.discover("x.spec.js", text)] == [
        "x.spec.js::outer::in_ner::a_(b)", "x.spec.js::outer::in_ner::c", "x.spec.js::outer::last"]
    # must-fail canaries: an equality's expected literal changed, else the matcher negated
    assert javascript.turn(" expect(f(1)).toEqual(2)") == " expect(f(1)).toEqual(3)"
    assert javascript.turn(" await expect(g()).resolves.toBe(y);") == " await expect(g()).resolves.not.toBe(y);"
    assert javascript.turn(" expect(h()).not.toBeNull();") == " expect(h()).toBeNull();"
    assert javascript.turn(" helper(1);") is None


def test_java_discovery_and_turned_assertions() -> None:
    from evaluator.languages import java

    text = java.prepare(
        "import org.junit.jupiter.api.Test;\n\npublic class FooTest {\n"
        "    @Disabled(\"Remove to run test\")\n    @Test\n    public void one() {\n"
        "        assertThat(Foo.bar(\"}\")).isEqualTo(3);\n    }\n\n"
        "    @Test\n    private void hidden() {}\n\n"
        "    @Test\n    @DisplayName(\"x\")\n    void two() throws Exception {\n"
        "        assertThatExceptionOfType(IllegalStateException.class).isThrownBy(() -> Foo.baz())"
        ".withMessage(\"no\");\n    }\n"
        "    void notATest() {}\n}\n")
    assert "@Disabled" not in text
    tests = java.discover("src/test/java/FooTest.java", text)
    assert [(t.test_id, t.cls) for t in tests] == [("src/test/java/FooTest.java::FooTest::one", "FooTest"),
                                                   ("src/test/java/FooTest.java::FooTest::two", "FooTest")]
    assert java.turn(' assertThat(x).isEqualTo("abc");') == ' assertThat(x).isEqualTo("abd");'
    assert java.turn(" assertThat(x).isTrue();") == " assertThat(x).isFalse();"
    assert java.turn(" assertThat(x).isEqualTo(y);") == " assertThat(x).isNotEqualTo(y);"
    assert java.turn(' assertThatThrownBy(() -> f()).isInstanceOf(E.class).hasMessage("m");') == \
        ' assertThatThrownBy(() -> f()).isInstanceOf(E.class).hasMessage("n");'
    assert java.turn(" assertThatExceptionOfType(E.class).isThrownBy(() -> f());") is None


@pytest.mark.parametrize("task_id", [JS_TASK, JAVA_TASK])
def test_renamed_tests_and_canaries_sit_beside_their_templates(polyglot_root: Path, tmp_path: Path,
                                                               task_id: str) -> None:
    import random

    from evaluator.grader import _hidden_files
    from evaluator.languages import registry

    task = PolyglotBenchmark(polyglot_root).task(task_id)
    language = task.metadata["language"]
    gitrepo.materialize(task.source_dir, tmp_path / "repo", task.base_commit, exclude=task.source_exclude)
    texts = {p: t for p, t in _hidden_files(task, tmp_path / "repo").items() if t is not None}
    out = registry.rewrite(language, texts, set(task.FAIL_TO_PASS), random.Random(7))
    assert sorted(out.real.values()) == sorted(task.FAIL_TO_PASS)
    assert len(out.must_fail) == len(out.must_pass) == 2
    [(rel, text)] = out.files.items()
    for harness in [*out.real, *out.canaries]:
        assert harness.rsplit("#", 1)[-1] in text
    assert not any(t.split("::")[-1] in text for t in task.FAIL_TO_PASS if "_" not in t.split("::")[-1])
    if language == "java":  # inside the class: the file still ends with the class's brace
        assert text.rstrip().endswith("}") and text.count("Test\n    public void ") == 6
    else:  # inside the describe block
        assert text.rstrip().endswith("});") and text.count("test('") == 10


def test_javascript_and_java_set_up_belongs_to_the_task() -> None:
    from evaluator import protect

    def owned(language: str, path: str, new: bool = False) -> bool:
        return protect.owned(path, language=language, hidden=[], new=new)

    for path in ("package.json", "babel.config.js", ".babelrc", "jest.config.js", "sub/x.spec.js",
                 "__mocks__/fs.js", "node_modules/jest/index.js", "a/package.json"):
        assert owned("javascript", path, new=True), path
    assert not owned("javascript", "resistor-color-trio.js") and not owned("javascript", "lib/util.js", True)
    for path in ("build.gradle", "settings.gradle", "gradlew", "gradle/wrapper/gradle-wrapper.properties",
                 "src/test/java/Extra.java", "src/main/java/module-info.java"):
        assert owned("java", path, new=True), path
    assert not owned("java", "src/main/java/ZebraPuzzle.java") and not owned("java", "src/main/java/Helper.java", True)
    # a given class beside the solution (kindergarten-garden's Plant.java) is the task's; its folder is not
    given = {"language": "java", "hidden": ["src/test/java/GardenTest.java"], "task_files": ("src/main/java/Plant.java",)}
    assert protect.owned("src/main/java/Plant.java", new=False, **given)
    assert not protect.owned("src/main/java/Garden.java", new=False, **given)
    assert protect.owned("src/test/java/Other.java", new=True, **given)


def test_the_toolchain_image_recipe_has_jest_babel_and_junit() -> None:
    from evaluator import polyglot_image

    recipe = polyglot_image.dockerfile(polyglot_image.DEFAULT_LANGUAGES, base="clade-sandbox:x")
    for package in ("nodejs", "jest", "node-babel7", "default-jdk-headless", "junit5", "libassertj-core-java"):
        assert f" {package} " in recipe
    assert "npm" not in recipe.split() and "COPY files/ /" in recipe
    preset = polyglot_image.files(("javascript",))
    assert any(p.endswith("@exercism/babel-preset-javascript/index.js") for p in preset)
    # a language set without files or crates keeps its tag (a Go-only image is not rebuilt)
    import hashlib

    old = hashlib.sha256(b"clade-sandbox:x\0golang-go").hexdigest()[:12]
    assert polyglot_image.image_tag(("go",), base="clade-sandbox:x") == f"clade-polyglot:{old}"
    assert polyglot_image.image_tag(base="clade-sandbox:x") != f"clade-polyglot:{old}"


@pytest.fixture(scope="module")
def full_toolchain_image(sandbox_image: str) -> str:
    """The toolchain image with every language (built once from Debian's packages, cached by tag)."""
    from evaluator import polyglot_image

    return polyglot_image.build(polyglot_image.DEFAULT_LANGUAGES, sandbox_image)


@pytest.mark.docker
@pytest.mark.parametrize("task_id", [JS_TASK, JAVA_TASK])
def test_javascript_and_java_gold_resolves_noop_does_not(polyglot_root: Path, full_toolchain_image: str,
                                                         tmp_path: Path, task_id: str) -> None:
    """Jest / JUnit per test, in its own process next to its canaries, with nothing downloaded."""
    task = PolyglotBenchmark(polyglot_root, image=full_toolchain_image).task(task_id)
    gold, noop = (evaluate_tasks([task], agent, EvalOptions(log_root=tmp_path / agent.name))[0]
                  for agent in (GOLD, NOOP))
    assert gold.outcome == Outcome.RESOLVED, gold.reason
    log = (Path(gold.log_dir) / "test_output.txt").read_text()
    assert log.count("canary (must fail)") == 2 and log.count("canary (must pass)") == 2
    assert noop.outcome == Outcome.UNRESOLVED, noop.reason
    assert task.FAIL_TO_PASS[0] in noop.reason


def _patch(task, changes: dict[str, str | None], tmp_path: Path) -> str:
    """A real patch against the task's base: `changes` maps a path to its new text (None: deleted)."""
    repo = tmp_path / "attack"
    gitrepo.materialize(task.source_dir, repo, task.base_commit, exclude=task.source_exclude)
    for rel, text in changes.items():
        if text is None:
            (repo / rel).unlink()
        else:
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
    gitrepo.git(repo, "add", "-A")
    return gitrepo.git(repo, "diff", "--cached", task.base_commit).stdout


_JS_STUB = "resistor-color-trio.js"
_JAVA_STUB = "src/main/java/ZebraPuzzle.java"
# The stub stays the stub; each patch only adds its trick.
ATTACKS = {
    # the code under test ends Jest with status 0 before any test reports
    "js-exit-zero": (JS_TASK, "tampered", {_JS_STUB: "process.exit(0);\n"}, []),
    # ... and first prints Jest's pass line and count for whatever test it was asked to run
    "js-forged-pass-lines": (JS_TASK, "tampered", {_JS_STUB: (
        "const name = process.argv[process.argv.length - 1];\n"
        "process.stdout.write(`  \\u2713 ${name} (1 ms)\\nTests:       1 passed, 1 total\\n`);\n"
        "process.exit(0);\n")}, []),
    # the task's test set-up edited: a Jest config in package.json, a Babel plugin, a planted spec file
    "js-edited-set-up": (JS_TASK, "unresolved", {
        "package.json": '{"jest": {"setupFiles": ["./forge.js"]}, "scripts": {"test": "true"}}\n',
        "babel.config.js": "module.exports = { presets: [], plugins: ['./forge.js'] };\n",
        "jest.config.js": "module.exports = { testMatch: ['**/forge.js'] };\n",
        "resistor-color-trio.spec.js": "test('Orange and orange and black', () => {});\n",
        "forge.js": "module.exports = () => ({ visitor: {} });\n",
    }, ["babel.config.js", "jest.config.js", "package.json", "resistor-color-trio.spec.js"]),
    "java-halt-zero": (JAVA_TASK, "tampered", {_JAVA_STUB: "static { Runtime.getRuntime().halt(0); }\n"}, []),
    # reads the selected test from its command line, prints JUnit's tree line and counts, exits 0
    "java-forged-launcher-report": (JAVA_TASK, "tampered", {_JAVA_STUB: (
        "static {\n    try {\n"
        "        String[] args = new String(java.nio.file.Files.readAllBytes("
        "java.nio.file.Paths.get(\"/proc/self/cmdline\"))).split(\"\\0\");\n"
        "        String selected = args[args.length - 1];\n"
        "        System.out.println(\"'-- \" + selected.substring(selected.indexOf('#') + 1) + \"() [OK]\");\n"
        "        System.out.println(\"[         1 tests successful      ]\");\n"
        "        System.out.println(\"[         0 tests failed          ]\");\n"
        "    } catch (Exception e) { }\n    Runtime.getRuntime().halt(0);\n}\n")}, []),
    # the task's build and tests edited: no test task, a trivial test class in the test's place
    "java-edited-set-up": (JAVA_TASK, "unresolved", {
        "build.gradle": "plugins { id 'java' }\ntest { enabled = false }\n",
        "src/test/java/ZebraPuzzleTest.java": ("import org.junit.jupiter.api.Test;\n\npublic class ZebraPuzzleTest {\n"
                                               "    @Test\n    public void residentWhoDrinksWater() {}\n"
                                               "    @Test\n    public void residentWhoOwnsZebra() {}\n}\n"),
    }, ["build.gradle", "src/test/java/ZebraPuzzleTest.java"]),
}


def _attack_changes(task, changes: dict[str, str]) -> dict[str, str]:
    """Tricks for a stub file go in it, next to what it has (Java: inside its class)."""
    out = {}
    for rel, text in changes.items():
        if rel in (_JS_STUB, _JAVA_STUB):
            stub = (task.source_dir / rel).read_text()
            if rel == _JAVA_STUB:
                at = stub.index("{") + 1
                out[rel] = stub[:at] + "\n" + text + stub[at:]
            else:
                out[rel] = text + stub
        else:
            out[rel] = text
    return out


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_patches_apply_and_leave_the_stub(polyglot_root: Path, tmp_path: Path, name: str) -> None:
    task_id, _, changes, _ = ATTACKS[name]
    task = PolyglotBenchmark(polyglot_root).task(task_id)
    patch = _patch(task, _attack_changes(task, changes), tmp_path)
    assert patch.strip()
    def added(diff: str) -> set[str]:
        return {line[1:].strip() for line in diff.splitlines()
                if line.startswith("+") and not line.startswith("+++") and len(line[1:].strip()) >= 8}

    assert not added(task.patch) & added(patch), "the attack brings in lines of the gold patch"
    removed = [line for line in patch.split(f"+++ b/{_JS_STUB if task_id == JS_TASK else _JAVA_STUB}")[-1]
               .split("diff --git")[0].splitlines() if line.startswith("-")]
    assert not removed, "the attack removes lines of the stub"


@pytest.mark.docker
@pytest.mark.parametrize("name", ATTACKS)
def test_javascript_and_java_tampering_is_caught(polyglot_root: Path, full_toolchain_image: str, tmp_path: Path,
                                                 name: str) -> None:
    from evaluator.agents import patch_agent
    from evaluator.task_run import run_task

    task_id, expect, changes, set_aside = ATTACKS[name]
    task = PolyglotBenchmark(polyglot_root, image=full_toolchain_image).task(task_id)
    agent = patch_agent("attack", {task_id: _patch(task, _attack_changes(task, changes), tmp_path)})
    result = run_task(task, agent, EvalOptions(log_root=tmp_path / "logs"))
    evidence = f"{name}: {result.outcome.value}: {result.reason} (logs in {result.log_dir})"
    assert result.outcome.value == expect, evidence
    if expect == "tampered":
        assert result.tampering and result.tampering.get("rule") in ("canary-passed", "canary-missing"), evidence
    assert set(set_aside) <= set(result.set_aside), evidence


def test_javascript_and_java_results_come_from_the_runner_and_the_exit_status() -> None:
    """A pass is exit 0 *and* the runner's own line and count for that test; anything else is not."""
    from evaluator.languages import java, javascript

    jest_pass = ("PASS ./x.spec.js\n  Outer\n    ✓ k3y9 (2 ms)\n    ○ skipped other\n\n"
                 "Tests:       1 skipped, 1 passed, 2 total\n")
    assert javascript.status("k3y9", 0, jest_pass) == "PASSED"
    assert javascript.status("k3y9", 1, jest_pass.replace("✓", "✕")) == "FAILED"
    assert javascript.status("k3y9", 0, "Tests:       2 skipped, 2 total\n") == "MISSING"  # nothing ran
    assert javascript.status("k3y9", 0, "") == "MISSING"  # ended with status 0 before Jest reported
    assert javascript.status("k3y9", None, "") == "TIMEOUT"
    junit_pass = ("| '-- XTest [OK]\n|   '-- k3y9() [OK]\n[         1 tests successful      ]\n"
                  "[         0 tests failed          ]\n")
    assert java.status("XTest#k3y9", 0, junit_pass) == "PASSED"
    assert java.status("XTest#k3y9", 0, junit_pass.replace("k3y9() [OK]", "k3y9() 18724 ms [OK]")) == "PASSED"
    assert java.status("XTest#k3y9", 0, junit_pass.replace("k3y9() [OK]", "k3y9() 18724 ms")) == "MISSING"
    assert java.status("XTest#k3y9", 1, junit_pass) == "FAILED"
    assert java.status("XTest#k3y9", 0, "") == "MISSING"
    assert java.status("XTest#k3y9", 255, "Could not find method with name [k3y9]") == "MISSING"
    # each test runs from the grader's copy: Debian's jars before the patch's classes; Jest's config
    # and Babel's transforms unpacked afresh from the grader's file
    argv = java.test_argv("/tmp/clade-bin/t0.jar", "XTest#k3y9")
    assert argv[argv.index("-cp") + 1].endswith(":/tmp/clade-bin/t0.jar") and "XTest#k3y9" in argv
    argv = javascript.test_argv("/tmp/clade-bin/t0.tar", "k3y9")
    assert argv[0] == "bash" and argv[-2:] == ["/tmp/clade-bin/t0.tar", "k3y9"] and "rm -rf" in argv[2]
    assert java.BIN_MODE == javascript.BIN_MODE == "0644"  # read, not written, by the test user
    assert "^/usr/share/nodejs/" in javascript.jest_config("/r")["transformIgnorePatterns"]
