"""How many tasks per minute the evaluator grades, and what the platform adds per task.

Three ways to grade the same built-in tasks with their gold patches:

* **direct**: one container for everything; each task's repository copied
  in, the gold patch applied and the hidden tests run with the very same
  scripts, one task after another (no per-task sandbox, no grading);
* **platform, 1 worker**: `evaluate_tasks(..., GOLD, workers=1)`: a fresh
  hardened sandbox per task, the cached base repository copied in,
  swebench grading, logs written (base repositories are made once per
  commit and cached, as in a run that evaluates each task many times: the
  cache is warmed before timing, like the direct run's repositories);
* **platform, 2 workers**: the same with two tasks at a time.

Reported: tasks per minute of each, the platform's ratio against direct,
and the platform's overhead per task ((1-worker time - direct time) / tasks).
Every platform run must resolve every task (checked: a fast wrong answer
is no answer).

    python bench/eval_throughput.py [--subset small|medium|full] [--tasks N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from evaluator import GOLD, EvalOptions, Outcome, tests_script, evaluate_tasks, gitrepo, grading
from evaluator.benchmarks import builtin
from sandbox.factory import open_sandbox
from sandbox.image import build
from sandbox.limits import SandboxLimits


def direct(tasks: list, image: str) -> dict[str, float]:
    """Every task's gold patch and tests in one long-lived container."""
    with tempfile.TemporaryDirectory(prefix="clade-bench-") as tmp:
        repos = {}
        for task in tasks:
            repos[task.instance_id] = Path(tmp) / task.instance_id
            gitrepo.materialize(task.source_dir, repos[task.instance_id], task.base_commit)
        started = time.monotonic()
        with open_sandbox(image, SandboxLimits(lifetime=3600)) as sb:
            start_s = time.monotonic() - started
            tests_started = time.monotonic()
            passed = 0
            for task in tasks:
                where = f"/workspace/direct/{task.instance_id}"
                moved = tests_script.relocated(task, where)
                sb.copy_in(repos[task.instance_id], where)
                sb.write_files({f"{where}.patch": task.patch, f"{where}.sh": grading.eval_script(moved)})
                applied = sb.exec(["bash", "-c", grading.apply_script(where, f"{where}.patch")], timeout=120)
                ran = sb.exec(["bash", f"{where}.sh"], timeout=task.test_timeout, workdir=where)
                passed += tests_script.APPLY_PATCH_PASS in applied.output and ">>>>> Test Exit Code: 0" in ran.output
            tests_s = time.monotonic() - tests_started
    if passed != len(tasks):
        raise SystemExit(f"direct run: only {passed} of {len(tasks)} gold patches passed their tests")
    return {"seconds": tests_s, "container_start_s": start_s}


def platform(tasks: list, image: str, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="clade-bench-logs-") as logs:
        started = time.monotonic()
        results = evaluate_tasks(tasks, GOLD, EvalOptions(image=image, log_root=Path(logs)), workers=workers)
        seconds = time.monotonic() - started
    wrong = [(r.task_id, r.reason) for r in results if r.outcome != Outcome.RESOLVED]
    if wrong:
        raise SystemExit(f"platform run with {workers} worker(s): not resolved: {wrong}")
    return {"seconds": seconds, "task_s_mean": sum(r.duration_s for r in results) / len(results),
            "tests_s_mean": sum(r.tests_s for r in results) / len(results)}


def per_minute(count: int, seconds: float) -> float:
    return round(count * 60.0 / seconds, 1) if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", default="small", help="built-in subset (default: small, 10 tasks)")
    parser.add_argument("--tasks", type=int, default=None, help="use only the first N tasks of the subset")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)

    tasks = builtin.load(args.subset)[: args.tasks]
    image = build()
    for task in tasks:  # both sides start from ready repositories
        gitrepo.cached(task.source_dir, task.base_commit, task_id=task.instance_id)
    platform(tasks[:1], image, 1)  # warm-up: swebench import, image cache, first container
    base = direct(tasks, image)
    one = platform(tasks, image, 1)
    two = platform(tasks, image, 2)
    n = len(tasks)
    report = {
        "tasks": n,
        "subset": args.subset,
        "direct": {"seconds": round(base["seconds"], 2), "tasks_per_min": per_minute(n, base["seconds"]),
                   "container_start_s": round(base["container_start_s"], 2)},
        "platform_1_worker": {"seconds": round(one["seconds"], 2), "tasks_per_min": per_minute(n, one["seconds"]),
                              "ratio_vs_direct": round(base["seconds"] / one["seconds"], 3)},
        "platform_2_workers": {"seconds": round(two["seconds"], 2), "tasks_per_min": per_minute(n, two["seconds"]),
                               "ratio_vs_direct": round(base["seconds"] / two["seconds"], 3)},
        "overhead_per_task_s": round((one["seconds"] - base["seconds"]) / n, 2),
        "platform_tests_s_mean": round(one["tests_s_mean"], 2),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{n} built-in tasks ({args.subset}), gold patches")
    print(f"  direct, one container     {report['direct']['seconds']:7.1f} s  "
          f"{report['direct']['tasks_per_min']:6.1f} tasks/min")
    for key, label in (("platform_1_worker", "platform, 1 worker"), ("platform_2_workers", "platform, 2 workers")):
        row = report[key]
        print(f"  {label:<25} {row['seconds']:7.1f} s  {row['tasks_per_min']:6.1f} tasks/min  "
              f"({row['ratio_vs_direct']:.2f}x direct)")
    print(f"  platform overhead per task: {report['overhead_per_task_s']:.2f} s "
          "(a sandbox started and removed per task, copies in, swebench grading, logs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
