"""What grading a Polyglot exercise costs in each language, against running its tests plainly.

For a few exercises of each language (`--per-language N`, chosen in a
stable hash order among those whose example solution passes its own test
command), two ways to grade the example solution (`gold`):

* **direct**: one container of the language's image for all of them; each
  exercise's base repository copied in, the gold patch applied and the
  exercise's own test command run once (`cargo test`, `cmake && make`,
  `jest`, `go test`, `javascript`/`java` with Debian's tools: the task's
  `test_cmd`), one exercise after another: no canaries, no process per test,
  no second user;
* **grader**: `evaluate_tasks(..., GOLD, workers=1)`, one exercise at a
  time: a fresh sandbox per exercise, the patch's changes to the test set-up
  set aside, fresh test names and canaries, the build as the sandbox user,
  then one process per test under the harness runner, swebench's report.

Reported per language: seconds per graded exercise of each, and the
grader's ratio against direct. Every exercise must pass directly and be
resolved by the grader (a fast wrong answer is no answer).

    python bench/polyglot_languages.py --checkout PATH [--per-language N] [--languages go,rust,...] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

from evaluator import GOLD, EvalOptions, Outcome, evaluate_tasks, gitrepo, grading, tests_script
from evaluator.benchmarks.polyglot import LANGUAGES, PolyglotBenchmark
from evaluator.errors import BadTask
from evaluator.task import Task
from sandbox.factory import open_sandbox
from sandbox.image import build
from sandbox.limits import SandboxLimits


def _order(task_id: str) -> str:
    return hashlib.sha256(f"bench:{task_id}".encode()).hexdigest()


def _direct_dir(task: Task) -> str:
    """Where the direct run puts an exercise: a folder of its own, named as the task names it
    (C++'s CMakeLists.txt builds what its folder is called)."""
    return f"/workspace/direct/{task.instance_id}/{PurePosixPath(task.repo_dir).name}"


# What one exercise's command leaves where the next one's would find it (Java compiles into /tmp/classes
# and runs every class there): removed before each exercise, outside the timing.
_LEFTOVERS = {"java": "rm -rf /tmp/classes"}


def _run_direct(sb, task: Task, base: Path) -> tuple[bool, float]:  # noqa: ANN001 (a sandbox.Sandbox)
    """Apply gold and run the exercise's own test command once; (passed, seconds)."""
    where = _direct_dir(task)
    moved = tests_script.relocated(task, where)
    leftovers = _LEFTOVERS.get(task.metadata.get("language", ""))
    if leftovers:
        sb.exec(["bash", "-c", leftovers], timeout=60)
    started = time.monotonic()
    sb.copy_in(base, where)
    sb.write_files({f"{where}.patch": task.patch, f"{where}.sh": grading.eval_script(moved)})
    applied = sb.exec(["bash", "-c", grading.apply_script(where, f"{where}.patch")], timeout=120)
    ran = sb.exec(["bash", f"{where}.sh"], timeout=task.test_timeout, workdir=where)
    seconds = time.monotonic() - started
    return tests_script.APPLY_PATCH_PASS in applied.output and ">>>>> Test Exit Code: 0" in ran.output, seconds


def direct(candidates: list[Task], wanted: int, image: str) -> tuple[list[Task], list[float], list[str]]:
    """The first `wanted` candidates whose gold passes its test command, run in one container;
    (those tasks, their seconds, the ids passed over because gold failed there)."""
    chosen, seconds, skipped = [], [], []
    with open_sandbox(image, SandboxLimits(lifetime=3600)) as sb:
        for task in candidates:
            if len(chosen) == wanted:
                break
            base = gitrepo.cached(task.source_dir, task.base_commit, task_id=task.instance_id,
                                  exclude=task.source_exclude)
            passed, took = _run_direct(sb, task, base)
            if passed:
                chosen.append(task)
                seconds.append(took)
            else:
                skipped.append(task.instance_id)
    return chosen, seconds, skipped


def graded(tasks: list[Task], logs: Path) -> list[float]:
    """Each task through the grader, one at a time; its seconds (all must be resolved)."""
    results = evaluate_tasks(tasks, GOLD, EvalOptions(log_root=logs), workers=1)
    wrong = [(r.task_id, r.reason) for r in results if r.outcome != Outcome.RESOLVED]
    if wrong:
        raise SystemExit(f"the grader did not resolve: {wrong}")
    return [r.duration_s for r in results]


def candidates(bench: PolyglotBenchmark, language: str) -> list[Task]:
    tasks = []
    for task_id in sorted(bench.subsets().get(language, []), key=_order):
        try:
            tasks.append(bench.task(task_id))
        except BadTask:
            continue
    return tasks


def measure(bench: PolyglotBenchmark, language: str, per_language: int, logs: Path) -> dict:
    pool = candidates(bench, language)
    if not pool:
        raise SystemExit(f"the checkout has no {language} exercise")
    image = pool[0].image or build()
    evaluate_tasks(pool[:1], GOLD, EvalOptions(log_root=logs / "warm-up"), workers=1)  # images, caches, imports
    chosen, direct_s, skipped = direct(pool, per_language, image)
    if not chosen:
        raise SystemExit(f"no {language} exercise passed its own tests with gold")
    grader_s = graded(chosen, logs / language)
    per_direct, per_grader = sum(direct_s) / len(chosen), sum(grader_s) / len(chosen)
    return {"exercises": [t.instance_id for t in chosen], "tests": sum(len(t.FAIL_TO_PASS) for t in chosen),
            "passed_over": skipped, "direct_s_per_exercise": round(per_direct, 2),
            "grader_s_per_exercise": round(per_grader, 2), "ratio": round(per_grader / per_direct, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, type=Path,
                        help="a checkout of Aider-AI/polyglot-benchmark (as for --benchmark polyglot:PATH)")
    parser.add_argument("--per-language", type=int, default=3, help="exercises per language (default: 3)")
    parser.add_argument("--languages", default=",".join(LANGUAGES), help=f"comma-separated (default: all, {','.join(LANGUAGES)})")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)

    bench = PolyglotBenchmark(args.checkout)
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown:
        raise SystemExit(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(LANGUAGES)}")
    with tempfile.TemporaryDirectory(prefix="clade-bench-polyglot-") as logs:
        report = {lang: measure(bench, lang, args.per_language, Path(logs)) for lang in languages}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Polyglot, gold, {args.per_language} exercise(s) per language: seconds per graded exercise")
    print(f"  {'language':<11} {'tests':>5} {'direct':>8} {'grader':>8} {'ratio':>6}  exercises")
    for lang, row in report.items():
        print(f"  {lang:<11} {row['tests']:>5} {row['direct_s_per_exercise']:>8.1f} {row['grader_s_per_exercise']:>8.1f} "
              f"{row['ratio']:>5.2f}x  {', '.join(e.split('__', 1)[1] for e in row['exercises'])}")
    print("  direct: one container, the exercise's own test command once; grader: a sandbox per exercise, "
          "canaries, one process per test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
