"""Aider's polyglot benchmark, from a local checkout of Aider-AI/polyglot-benchmark.

Layout: `<root>/<lang>/exercises/practice/<exercise>/` with
`.docs/instructions*.md` and `.meta/config.json` naming the solution, test
and example files. Instance ids are `<lang>__<exercise>`.

As in DGM and HGM, the agent sees the instructions (in the problem
statement) and the exercise without its tests and without `.meta/` (which
holds the example solution); the tests come back only for grading, as the
task's `test_patch`. The `gold` agent applies the example solution, turned
into a patch against the stub.

Every language is graded test by test: each test of the hidden test files
(found statically, the way the language's runner finds them:
`evaluator.languages`) is a FAIL_TO_PASS test, and the grader reports each
one through the same swebench report (`evaluator.grader`). An exercise in
which no test is found is a broken task, refused at load. Languages other
than Python need their toolchain in the image (see
`evaluator.polyglot_image`). C++ exercises live in a folder named after the
exercise, because exercism's CMakeLists.txt names its targets after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from evaluator import tests_script, gitrepo
from evaluator.errors import BadTask, DatasetUnavailable, UnknownTask
from evaluator.languages import java, rust
from evaluator.task import SANDBOX_REPO_DIR, Task

log = logging.getLogger(__name__)

BENCHMARK = "polyglot"
IMAGE_ENV = "CLADE_POLYGLOT_IMAGE"  # the image non-Python exercises run in (see evaluator.polyglot_image)
LANGUAGES = ("cpp", "go", "java", "javascript", "python", "rust")
# Subsets drawn deterministically from the sorted ids (a stable hash order), like the built-in ones.
SUBSET_SIZES = {"small": 10, "medium": 50}


@dataclass(frozen=True)
class LanguageSetup:
    """How one language's tests run (inside `exercise_dir` = the repository)."""

    test_cmd: str
    image_needs: str  # what the image must provide, for the README and error messages


SETUPS: dict[str, LanguageSetup] = {
    "python": LanguageSetup("python -m pytest -rA -p no:cacheprovider --continue-on-collection-errors {tests}",
                            "nothing: python3 and pytest are in Clade's base image"),
    "go": LanguageSetup("go test ./...", "Go (Debian golang-go)"),
    "rust": LanguageSetup("cargo test --offline -- --include-ignored", "Rust (Debian cargo, rustc)"),
    # JavaScript and Java: what the exercise's own build runs, with Debian's tools instead of npm's and
    # Gradle's downloads (the grader runs each test on its own: evaluator.languages.javascript / java)
    "javascript": LanguageSetup("jest --ci --runInBand --verbose {tests}",
                                "Node.js, Jest and Babel (Debian nodejs, jest, node-babel7)"),
    "cpp": LanguageSetup("mkdir -p build && cd build && cmake -DEXERCISM_RUN_ALL_TESTS=1 .. && make",
                         "CMake and a C++ compiler (Debian cmake, g++)"),
    "java": LanguageSetup(f"javac -proc:none -d /tmp/classes -cp {java.CLASS_PATH} $(find src/main/java src/test/java "
                          f"-name '*.java') && java -cp {java.CLASS_PATH}:/tmp/classes {java.LAUNCHER} "
                          "--scan-class-path /tmp/classes",
                          "a JDK, JUnit 5 and AssertJ (Debian default-jdk-headless, junit5, libassertj-core-java)"),
}


def _exercise_dirs(root: Path, language: str) -> list[Path]:
    practice = root / language / "exercises" / "practice"
    if not practice.is_dir():
        return []
    return sorted(d for d in practice.iterdir() if (d / ".meta" / "config.json").is_file())


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetUnavailable(
            f"no polyglot checkout at {root}: clone https://github.com/Aider-AI/polyglot-benchmark "
            "on a machine with network, copy it here, and pass its path (--benchmark polyglot:PATH)"
        )
    if not any(_exercise_dirs(root, lang) for lang in LANGUAGES):
        raise DatasetUnavailable(
            f"{root} has no <language>/exercises/practice/<exercise>/.meta/config.json: "
            "pass the root of a polyglot-benchmark checkout"
        )


def _order_key(task_id: str) -> str:
    return hashlib.sha256(task_id.encode()).hexdigest()


class PolyglotBenchmark:
    """The exercises of one checkout; subsets: each language, small, medium, full."""

    name = BENCHMARK

    def __init__(self, root: Path, repo_dir: str = SANDBOX_REPO_DIR, image: str | None = None) -> None:
        self.root = root.expanduser().resolve()
        _check_root(self.root)
        self.repo_dir = repo_dir
        self.image = image
        self._dirs = {f"{lang}__{d.name}": d for lang in LANGUAGES for d in _exercise_dirs(self.root, lang)}
        self.refused: dict[str, str] = {}  # exercises a subset left out, and why (e.g. no test to grade by)

    def ids(self) -> list[str]:
        return sorted(self._dirs)

    def subsets(self) -> dict[str, list[str]]:
        ids = self.ids()
        shuffled = sorted(ids, key=_order_key)
        small = shuffled[: SUBSET_SIZES["small"]]
        medium = shuffled[SUBSET_SIZES["small"]: SUBSET_SIZES["small"] + SUBSET_SIZES["medium"]]
        by_language = {lang: [i for i in ids if i.startswith(f"{lang}__")] for lang in LANGUAGES}
        return {**{k: v for k, v in by_language.items() if v}, "small": sorted(small), "medium": sorted(medium),
                "full": ids}

    def load(self, subset: str | None = None, ids: list[str] | None = None) -> list[Task]:
        if ids:
            missing = [i for i in ids if i not in self._dirs]
            if missing:
                raise UnknownTask(f"the polyglot checkout at {self.root} has no exercise {', '.join(missing)} "
                                  "(ids are <language>__<exercise>, e.g. python__two-fer)")
            chosen = ids
        else:
            names = self.subsets()
            if (subset or "full") not in names:
                raise UnknownTask(f"polyglot has no subset {subset!r}; use one of {', '.join(names)}")
            chosen = names[subset or "full"]
            tasks = []
            for task_id in chosen:  # a subset goes on without its broken exercises, and says which
                try:
                    tasks.append(self.task(task_id))
                except BadTask as exc:
                    self.refused[task_id] = str(exc)
                    log.warning("left out: %s", exc)
            return tasks
        return [self.task(i) for i in chosen]

    def task(self, task_id: str) -> Task:
        language = task_id.split("__", 1)[0]
        return exercise_task(self._dirs[task_id], language, self.repo_dir, image=self.toolchain_image(language))

    def toolchain_image(self, language: str) -> str | None:
        """None for Python (Clade's sandbox image); else the polyglot image
        (`image`, $CLADE_POLYGLOT_IMAGE, or the default build's tag)."""
        if language == "python":
            return None
        if self.image or os.environ.get(IMAGE_ENV):
            return self.image or os.environ[IMAGE_ENV]
        from evaluator.polyglot_image import image_tag

        return image_tag()


def _config(exercise: Path) -> dict[str, list[str]]:
    try:
        files = json.loads((exercise / ".meta" / "config.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise BadTask(f"{exercise}/.meta/config.json is unreadable or has no 'files' ({exc})") from None
    return {k: list(files.get(k, [])) for k in ("solution", "test", "example", "editor")}


def _instructions(exercise: Path) -> str:
    docs = exercise / ".docs"
    parts = [p.read_text() for p in (docs / "introduction.md", docs / "instructions.md",
                                       docs / "instructions.append.md") if p.is_file()]
    if not parts:
        raise BadTask(f"{exercise} has no .docs/instructions.md")
    return "\n\n".join(part.strip() for part in parts)


def _problem(exercise: Path, solution: list[str]) -> str:
    files = ", ".join(solution)
    return (
        f"{_instructions(exercise)}\n\n####\n\n"
        f"Use the instructions above to complete the code in: {files}.\n"
        "Keep the names of the existing functions, classes and files: the tests that will check your work "
        "call them. Use only the language's standard library.\n"
    )


def _prepare_test(language: str, text: str) -> str:
    """Turn on the tests that exercism ships switched off, as Aider's harness does (JavaScript's
    `xtest(`/`xit(` → `test(`/`it(`, Java's `@Disabled` dropped: `evaluator.languages`)."""
    from evaluator.languages import registry

    return registry.prepare_test(language, text)


def _example_for(solution: str, examples: list[str], position: int) -> str | None:
    """The example file that solves `solution`: same file name, else same suffix, else same position."""
    name, suffix = Path(solution).name, Path(solution).suffix
    for candidates in ([e for e in examples if Path(e).name == name], [e for e in examples if e.endswith(suffix)]):
        if len(candidates) == 1:
            return candidates[0]
    return examples[position] if position < len(examples) else None


def test_ids(language: str, path: Path, rel: str) -> list[str]:
    """The graded ids of the tests in one hidden test file (none for a file of another kind)."""
    from evaluator.languages import registry

    try:
        return registry.discover_ids(language, rel, _prepare_test(language, path.read_text()))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise BadTask(f"cannot read the tests in {path}: {exc}") from None


# Seconds per test process on a busy machine: Jest takes 1-3 s to start (up to 99 of them: meetup), a JVM ~1 s.
_PER_TEST_S = {"javascript": 12.0, "java": 6.0}


def _test_timeout(language: str, tests: int) -> float:
    """The limit of one task's test run; where each test has its own process, also by their number
    (with the 4 canaries)."""
    base = 300.0 if language in ("java", "javascript", "rust", "cpp") else 120.0
    return max(base, _PER_TEST_S.get(language, 0.0) * (tests + 4))


def exercise_task(exercise: Path, language: str, repo_dir: str = SANDBOX_REPO_DIR, image: str | None = None) -> Task:
    """One exercise as a Task (base commit, test patch and gold patch computed here)."""
    files = _config(exercise)
    task_id = f"{language}__{exercise.name}"
    hidden = files["test"]
    if not hidden or not files["solution"]:
        raise BadTask(f"{exercise}/.meta/config.json names no solution or test files")
    with tempfile.TemporaryDirectory(prefix="clade-polyglot-") as tmp:
        work = Path(tmp) / "repo"
        base_commit = gitrepo.init_repo(work, exercise, exclude=[".meta", *hidden])
        for rel in hidden:
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_prepare_test(language, (exercise / rel).read_text()))
        manifest = rust.grading_manifest(exercise) if language == "rust" else None
        if manifest is not None:  # the tests build with the example's crates too: placed with them, task-owned
            (work / "Cargo.toml").write_text(manifest)
        test_patch = gitrepo.diff(work, base_commit)
        gitrepo.git(work, "reset", "-q", "--hard", base_commit)
        gitrepo.git(work, "clean", "-qfdx")
        used = set()
        for position, solution in enumerate(files["solution"]):
            example = _example_for(solution, files["example"], position)
            if example is not None:
                used.add(example)
                (work / solution).parent.mkdir(parents=True, exist_ok=True)
                (work / solution).write_text((exercise / example).read_text())
        if language == "java":  # the reference's helper classes (Frame.java, Card.java) go beside the solution
            for example in sorted(set(files["example"]) - used):
                target = work / PurePosixPath(files["solution"][0]).parent / PurePosixPath(example).name
                if not target.exists():
                    target.write_text((exercise / example).read_text())
        gold = gitrepo.diff(work, base_commit)
    setup = SETUPS[language]
    test_cmd = setup.test_cmd.format(tests=" ".join(hidden))
    fail_to_pass = [t for rel in hidden for t in test_ids(language, exercise / rel, rel)]
    if not fail_to_pass:
        raise BadTask(f"{task_id}: no test found in {', '.join(hidden)}, so nothing could ever resolve it")
    if language == "cpp":  # exercism's CMakeLists.txt names the build after the exercise's folder
        repo_dir = f"{PurePosixPath(repo_dir).parent}/{exercise.name}"
    return Task(
        benchmark=BENCHMARK,
        instance_id=task_id,
        repo=f"polyglot-benchmark/{language}",
        base_commit=base_commit,
        problem_statement=_problem(exercise, files["solution"]),
        test_patch=test_patch,
        patch=gold,
        FAIL_TO_PASS=fail_to_pass,
        PASS_TO_PASS=[],
        eval_script=tests_script.build(repo_dir=repo_dir, base_commit=base_commit, test_patch=test_patch,
                                      test_cmd=test_cmd),
        log_parser="parse_log_pytest",
        eval_type="pass_and_fail",
        image=image,
        repo_dir=repo_dir,
        source_dir=exercise,
        source_exclude=[".meta", *hidden],
        test_timeout=_test_timeout(language, len(fail_to_pass)),
        test_cmd=test_cmd,
        metadata={"language": language, "exercise": exercise.name, "solution_files": files["solution"],
                  # visible files of the test set-up (Go's cases_test.go): the task's, never the patch's
                  "task_files": sorted(set(files["editor"]) - set(files["solution"]))},
    )
