"""The grader's red team: patches that want the `resolved` bit without solving the task.

Every attack in tests/evaluator/redteam/manifest.yaml is a real patch (what an
agent's `patch.diff` would be) against one fixture task. It leaves the task
unsolved — the solution stays the stub, the patch only adds its trick — and
tries to be graded resolved anyway: a planted conftest or runner config, a
module shadowing the runner, the code under test exiting 0 or forging
pytest's and swebench's lines, monkeypatched asserts or pytest internals, an
always-equal result, rewritten hidden tests, a flood, a daemon, edited test
set-up in Go, Rust and C++, life before main, and code that reads the hidden
tests to tell the canaries from the real tests and forces only the real ones.

Without Docker: the manifest is complete, every patch applies to its task's
base repository, and no patch solves its task (it removes nothing from the
solution files and adds none of the gold patch's lines).

With Docker (marked `docker`): each patch is graded by `run_task` and must
come out as the manifest's `expect` — `tampered` (caught in the act, with the
rule that caught it) or `unresolved` (what it changed was not used; set-up
files it changed are listed in `set_aside`) — and never `resolved`.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml

from evaluator import gitrepo
from evaluator.agents import patch_agent
from evaluator.benchmarks import builtin
from evaluator.benchmarks.polyglot import PolyglotBenchmark
from evaluator.benchmarks.swe_bench import SWEBenchBenchmark
from evaluator.task_run import EvalOptions, run_task
from evaluator.task import Outcome, Task
from tests.evaluator.test_swebench import (  # noqa: F401 - instance_image is a fixture used here
    SOURCE_TASK,
    _base_commit,
    instance_image,
    swebench_row,
    write_jsonl,
)

HERE = Path(__file__).parent
REDTEAM = HERE / "redteam"
POLYGLOT = HERE / "fixtures" / "polyglot"
MANIFEST: list[dict] = yaml.safe_load((REDTEAM / "manifest.yaml").read_text())["attacks"]
LANGUAGES = ("python", "go", "rust", "cpp")
TOOLCHAIN_LANGUAGES = ("cpp", "go", "rust")
BENCHMARKS = ("builtin", "polyglot", "swebench")
EXPECTS = ("tampered", "unresolved")
MIN_FAMILIES = 20
KEYS = {"family", "benchmark", "task", "language", "description", "expect", "solves"}
OPTIONAL_KEYS = {"set_aside", "notes"}


def _id(entry: dict) -> str:
    return entry["family"]


def _patch(entry: dict) -> str:
    return (REDTEAM / f"{entry['family']}.patch").read_text()


def _missing_fixture(entry: dict) -> str | None:
    """Why the entry's fixture is not here (fixtures for some languages arrive separately), or None."""
    if entry["benchmark"] != "polyglot":
        return None
    language, exercise = entry["task"].split("__", 1)
    folder = POLYGLOT / language / "exercises" / "practice" / exercise
    if not (folder / ".meta" / "config.json").is_file():
        return f"the fixture {folder.relative_to(HERE)} is not in this checkout"
    return None


def _skip_without_fixture(entry: dict) -> None:
    reason = _missing_fixture(entry)
    if reason:
        pytest.skip(reason)


def _host_task(entry: dict) -> Task:
    """The task with its files on this host: the SWE-bench instance is the calc project of SOURCE_TASK."""
    if entry["benchmark"] == "polyglot":
        return PolyglotBenchmark(POLYGLOT, image="clade-polyglot:not-needed-here").task(entry["task"])
    return builtin.load(ids=[SOURCE_TASK if entry["benchmark"] == "swebench" else entry["task"]])[0]


# -- the diff, read without git ------------------------------------------------------------------------------------


def _sections(patch: str) -> dict[str, list[str]]:
    """Path -> the lines of its section of a git diff (header included); a/ and b/ names both map."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in patch.splitlines():
        head = re.match(r"^diff --git a/(\S+) b/(\S+)$", line)
        if head:
            current = []
            found.setdefault(head.group(1), current)
            found.setdefault(head.group(2), current)
            continue
        if current is not None:
            current.append(line)
    return found


def _removed(section: list[str]) -> list[str]:
    return [line[1:] for line in section if line.startswith("-") and not line.startswith("---")]


def _added(patch: str) -> list[str]:
    return [line[1:] for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++")]


def _solution_files(task: Task) -> set[str]:
    """What solving means here: the files the gold patch changes, and Polyglot's solution files."""
    files = set(_sections(task.patch))
    files |= set(task.metadata.get("solution_files", []))
    return files


# -- without Docker ------------------------------------------------------------------------------------------------


def test_manifest_covers_the_families() -> None:
    families = [entry["family"] for entry in MANIFEST]
    assert len(families) == len(set(families)), "a family appears twice"
    assert len(set(families)) >= MIN_FAMILIES
    assert {entry["language"] for entry in MANIFEST} >= set(LANGUAGES)
    for entry in MANIFEST:
        name = entry["family"]
        assert KEYS <= set(entry) <= KEYS | OPTIONAL_KEYS, f"{name}: keys {sorted(entry)}"
        assert entry["benchmark"] in BENCHMARKS and entry["language"] in LANGUAGES, name
        assert entry["expect"] in EXPECTS, name
        assert entry["solves"] is False, f"{name}: an attack must leave its task unsolved"
        assert entry["description"].strip() and "\n" not in entry["description"].strip(), name
        if entry.get("set_aside"):
            assert entry["expect"] == "unresolved", f"{name}: set-aside files make an attack unresolved"
        assert (REDTEAM / f"{name}.patch").is_file(), f"{name}: no patch file"
    on_disk = {p.stem for p in REDTEAM.glob("*.patch")}
    assert on_disk == set(families), f"patches without a manifest entry: {sorted(on_disk - set(families))}"


@pytest.mark.parametrize("entry", MANIFEST, ids=_id)
def test_patch_applies_to_the_task_base(entry: dict, tmp_path: Path) -> None:
    _skip_without_fixture(entry)
    task = _host_task(entry)
    repo = tmp_path / "repo"
    gitrepo.materialize(task.source_dir, repo, task.base_commit, task_id=task.instance_id,
                        exclude=task.source_exclude)
    done = gitrepo.git(repo, "apply", "--check", "-", input=_patch(entry), check=False)
    assert done.returncode == 0, f"{entry['family']} does not apply to {task.instance_id}: {done.stderr.strip()}"


@pytest.mark.parametrize("entry", MANIFEST, ids=_id)
def test_patch_leaves_the_task_unsolved(entry: dict) -> None:
    """The control: the stub stays whole and none of the gold patch's lines comes in with the trick."""
    _skip_without_fixture(entry)
    task = _host_task(entry)
    patch = _patch(entry)
    sections = _sections(patch)
    for path in sorted(_solution_files(task) & set(sections)):
        section = sections[path]
        assert not _removed(section), f"{entry['family']} removes lines of the solution file {path}"
        assert not any(line.startswith(("deleted file", "rename from", "rename to")) for line in section), \
            f"{entry['family']} deletes or renames the solution file {path}"
    gold = {line.strip() for line in _added(task.patch) if len(line.strip()) >= 8}
    borrowed = sorted(gold & {line.strip() for line in _added(patch)})
    assert not borrowed, f"{entry['family']} brings in lines of the gold patch: {borrowed[:3]}"


# -- with Docker: the grader's verdict -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def toolchain_image(sandbox_image: str) -> str:
    """The polyglot image for Go, Rust and C++ (built once, then found by its tag)."""
    from evaluator import polyglot_image

    return polyglot_image.build(TOOLCHAIN_LANGUAGES, sandbox_image)


@pytest.fixture(scope="module")
def swebench_task(instance_image: str) -> Task:  # noqa: F811 - the imported fixture
    rows = [swebench_row(instance_image, _base_commit(instance_image))]
    with tempfile.TemporaryDirectory(prefix="clade-redteam-") as tmp:
        [task] = SWEBenchBenchmark(str(write_jsonl(Path(tmp) / "swebench.jsonl", rows))).load()
    return task


def _graded_task(entry: dict, request: pytest.FixtureRequest) -> Task:
    if entry["benchmark"] == "swebench":
        return request.getfixturevalue("swebench_task")
    if entry["benchmark"] == "builtin":
        return builtin.load(ids=[entry["task"]])[0]
    image = request.getfixturevalue("toolchain_image") if entry["language"] != "python" else None
    return PolyglotBenchmark(POLYGLOT, image=image).load(ids=[entry["task"]])[0]


@pytest.mark.docker
@pytest.mark.parametrize("entry", MANIFEST, ids=_id)
def test_attack_is_caught(entry: dict, request: pytest.FixtureRequest, sandbox_image: str, tmp_path: Path) -> None:
    _skip_without_fixture(entry)
    task = _graded_task(entry, request)
    agent = patch_agent("redteam", {task.instance_id: _patch(entry)})
    result = run_task(task, agent, EvalOptions(image=sandbox_image, log_root=tmp_path / "logs"))
    family, expect = entry["family"], entry["expect"]
    evidence = f"{family}: {result.outcome.value}: {result.reason} (logs in {result.log_dir})"
    assert result.outcome != Outcome.RESOLVED, f"the attack got an unsolved task graded resolved: {evidence}"
    assert result.reason.strip() and "\n" not in result.reason.strip(), f"reason is not one line: {evidence}"
    assert result.outcome.value == expect, f"expected {expect}: {evidence}"
    if expect == "tampered":
        assert result.tampering and result.tampering.get("rule"), f"tampered without a rule: {evidence}"
    if entry.get("set_aside"):
        missing = sorted(set(entry["set_aside"]) - set(result.set_aside))
        assert not missing, f"not set aside: {missing} (set_aside={result.set_aside}): {evidence}"
