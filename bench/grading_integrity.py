"""What the grader's protections cost: grading time with them, as a ratio against grading without.

Both grade the same built-in tasks with their gold patches, one task at a
time, each in a fresh sandbox with the cached base repository copied in:

* **unprotected** (the baseline, the grader as it was): the patch applied
  and the task's eval script run as the sandbox user in one step, the
  whole log parsed by swebench;
* **protected** (`evaluator.grader`): a grader user owns the repository,
  the patch's changes to the test set-up set aside, fresh test names and
  canaries, the harness runner reporting behind a per-run secret, the
  verdict's cross-checks, then swebench's report.

The two are interleaved task by task (so that a change in the machine's
load hits both alike), and every task must be resolved by both. Goal:
ratio <= 1.10.

    python bench/grading_integrity.py [--subset small|medium|full] [--tasks N] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evaluator import gitrepo, grader, grading
from evaluator.benchmarks import builtin
from evaluator.task import Outcome
from sandbox.factory import open_sandbox
from sandbox.image import build


def unprotected(task, base: Path, image: str) -> float:
    started = time.monotonic()
    with open_sandbox(image) as sb:
        sb.copy_in(base, task.repo_dir)
        sb.write_files({"/tmp/clade/model.patch": task.patch, "/tmp/clade/eval.sh": grading.eval_script(task)})
        applied = sb.exec(["bash", "-c", grading.apply_script(task.repo_dir, "/tmp/clade/model.patch")], timeout=120)
        ran = sb.exec(["bash", "/tmp/clade/eval.sh"], timeout=task.test_timeout, workdir=task.repo_dir)
    seconds = time.monotonic() - started
    if not grading.grade(task, applied.output + ran.output, patch=task.patch).resolved:
        raise SystemExit(f"unprotected: gold does not resolve {task.instance_id}")
    return seconds


def protected(task, base: Path, image: str, logs: Path) -> float:
    started = time.monotonic()

    def place(sb, user: str) -> str:  # noqa: ANN001
        sb.copy_in(base, task.repo_dir, user=user)
        return task.repo_dir

    logs.mkdir(parents=True, exist_ok=True)
    graded = grader.grade_patch(task, task.patch, lambda **kw: open_sandbox(image, **kw), place,
                                tests_timeout=task.test_timeout, logs=logs, base=base)
    seconds = time.monotonic() - started
    if graded.outcome != Outcome.RESOLVED:
        raise SystemExit(f"protected: gold does not resolve {task.instance_id}: {graded.reason}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", default="small")
    parser.add_argument("--tasks", type=int, default=0, help="only the first N tasks of the subset")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    image = build()
    tasks = builtin.load(args.subset)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    bases = {t.instance_id: gitrepo.cached(t.source_dir, t.base_commit, task_id=t.instance_id) for t in tasks}
    plain_s = guarded_s = 0.0
    with tempfile.TemporaryDirectory(prefix="clade-bench-grading-") as tmp:
        unprotected(tasks[0], bases[tasks[0].instance_id], image)  # warm the engine and the page cache
        for i, task in enumerate(tasks):
            base = bases[task.instance_id]
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    plain_s += unprotected(task, base, image)
                else:
                    guarded_s += protected(task, base, image, Path(tmp) / task.instance_id)
    result = {"tasks": len(tasks), "unprotected_s": round(plain_s, 2), "protected_s": round(guarded_s, 2),
              "unprotected_per_task_s": round(plain_s / len(tasks), 3),
              "protected_per_task_s": round(guarded_s / len(tasks), 3),
              "ratio": round(guarded_s / plain_s, 3), "goal": 1.10}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(tasks)} built-in tasks, gold, one at a time, fresh sandbox each")
        print(f"  unprotected: {result['unprotected_per_task_s']:.2f} s per task")
        print(f"  protected:   {result['protected_per_task_s']:.2f} s per task")
        print(f"  ratio protected / unprotected: {result['ratio']:.3f}  (goal <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
