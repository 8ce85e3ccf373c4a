"""Check and re-record the built-in tasks, outside Docker.

    python -m evaluator.builtin_tools validate [ID ...]   # prove every task is sound
    python -m evaluator.builtin_tools fix [ID ...]        # re-record base_commit and tests.json

`validate` proves for each task, with plain subprocesses in a temporary
folder: the files give the recorded base commit; the hidden tests apply;
FAIL_TO_PASS fail and PASS_TO_PASS pass on the base code (what `noop`
gets); all of them pass with the gold patch (what `gold` gets); the gold
patch leaves test files alone and the test patch touches only tests; the
problem statement does not name the hidden tests. The test suite runs it on
every task, so a bad task is caught before any sandbox starts.

`fix` is for authors: after editing `repo/` or the patches, it recomputes
`base_commit` and derives FAIL_TO_PASS (fail on base, pass with gold) and
PASS_TO_PASS (pass on both) from real runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evaluator import gitrepo, local
from evaluator.benchmarks import builtin
from evaluator.tests_script import patch_paths
from evaluator.task import Task

SUBSET_SIZES = {"small": 10, "medium": 50}
HIDDEN_TEST_PREFIX = "tests/"


class TaskProblem(Exception):
    """A task that cannot be re-recorded as it is (its author must fix it)."""


@dataclass
class Report:
    task_id: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_task(task: Task) -> Report:
    report = Report(task.instance_id)
    problems = report.problems
    if not task.problem_statement.strip():
        problems.append("empty problem statement")
    if not task.FAIL_TO_PASS:
        problems.append("no FAIL_TO_PASS tests")
    for path in patch_paths(task.patch):
        if path.startswith(HIDDEN_TEST_PREFIX):
            problems.append(f"the gold patch touches test file {path}")
    for path in patch_paths(task.test_patch):
        if not path.startswith(HIDDEN_TEST_PREFIX):
            problems.append(f"the test patch touches non-test file {path}")
    for test in task.FAIL_TO_PASS:
        name = test.split("::")[-1].split("[")[0]
        if re.search(rf"\b{re.escape(name)}\b", task.problem_statement):
            problems.append(f"the problem statement names hidden test {name}")
    overlap = set(task.FAIL_TO_PASS) & set(task.PASS_TO_PASS)
    if overlap:
        problems.append(f"tests in both FAIL_TO_PASS and PASS_TO_PASS: {sorted(overlap)}")
    try:
        base = local.run_tests(task, "")
        gold = local.run_tests(task, task.patch)
    except Exception as exc:  # a broken task must be reported, not crash the other checks
        problems.append(f"{type(exc).__name__}: {exc}")
        return report
    report.seconds = base.seconds + gold.seconds
    status = base.grade.status
    if base.grade.resolved:
        problems.append("the base code already resolves the task (noop would score)")
    if status is None:
        problems.append(f"the tests did not run on the base code: {base.grade.reason}")
    else:
        if status.fail_to_pass_success:
            problems.append(f"FAIL_TO_PASS tests pass on the base code: {status.fail_to_pass_success}")
        if status.pass_to_pass_failure:
            problems.append(f"PASS_TO_PASS tests fail on the base code: {status.pass_to_pass_failure}")
    if not gold.grade.resolved:
        problems.append(f"the gold patch does not resolve the task: {gold.grade.reason}")
    return report


def validate_subsets(root: Path = builtin.ROOT) -> list[str]:
    problems = []
    names = builtin.subsets(root)
    every = set(names["full"])
    for name, size in SUBSET_SIZES.items():
        ids = names.get(name, [])
        if len(ids) != size or len(set(ids)) != size:
            problems.append(f"subset {name} has {len(set(ids))} distinct tasks, expected {size}")
        unknown = set(ids) - every
        if unknown:
            problems.append(f"subset {name} names unknown tasks {sorted(unknown)}")
    if set(names.get("small", [])) & set(names.get("medium", [])):
        problems.append("subsets small and medium overlap (staged evaluation runs medium after small)")
    return problems


def fix_task(task_dir: Path) -> list[str]:
    """Re-record base_commit and the test lists of one task folder; return what changed."""
    changes = []
    meta_path = task_dir / "task.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        commit = gitrepo.init_repo(Path(tmp) / "repo", task_dir / "repo")
    if meta.get("base_commit") != commit:
        meta["base_commit"] = commit
        meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
        changes.append(f"base_commit -> {commit[:12]}")
    tests_path = task_dir / "tests.json"
    if not tests_path.exists():
        tests_path.write_text(json.dumps({"FAIL_TO_PASS": [], "PASS_TO_PASS": []}))
    task = builtin.load_task_dir(task_dir)
    before = local.run_tests(task, "").statuses
    after = local.run_tests(task, task.patch).statuses
    if before is None or after is None:
        raise TaskProblem(f"the tests did not run ({'base' if before is None else 'gold'})")
    passing = {"PASSED", "XFAIL"}
    broken = sorted(t for t, s in after.items() if s not in passing and t != "[100%]")
    if broken:
        raise TaskProblem(f"tests fail with the gold patch: {broken}")
    f2p = sorted(t for t, s in after.items() if before.get(t) not in passing)
    p2p = sorted(t for t in after if before.get(t) in passing)
    tests = {"FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p}
    if json.loads(tests_path.read_text()) != tests:
        tests_path.write_text(json.dumps(tests, indent=2) + "\n")
        changes.append(f"tests.json: {len(f2p)} FAIL_TO_PASS, {len(p2p)} PASS_TO_PASS")
    return changes


def _selected(ids: list[str]) -> list[Path]:
    dirs = builtin.task_dirs()
    if not ids:
        return dirs
    by_id = {d.name: d for d in dirs}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"no built-in task {', '.join(missing)}")
    return [by_id[i] for i in ids]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator.builtin_tools", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["validate", "fix"])
    parser.add_argument("ids", nargs="*", help="task ids (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    dirs = _selected(args.ids)
    if args.command == "fix":
        failures = 0
        for d in dirs:
            try:
                for change in fix_task(d):
                    print(f"{d.name}: {change}")
            except TaskProblem as exc:
                failures += 1
                print(f"{d.name}: {exc}")
        return 1 if failures else 0
    tasks = [builtin.load_task_dir(d) for d in dirs]
    with ThreadPoolExecutor(args.workers) as pool:
        reports = list(pool.map(validate_task, tasks))
    failed = [r for r in reports if not r.ok]
    for r in failed:
        for problem in r.problems:
            print(f"{r.task_id}: {problem}")
    subset_problems = validate_subsets() if not args.ids else []
    for problem in subset_problems:
        print(f"subsets: {problem}")
    print(f"{len(reports) - len(failed)} of {len(reports)} tasks valid")
    return 1 if failed or subset_problems else 0


if __name__ == "__main__":
    sys.exit(main())
