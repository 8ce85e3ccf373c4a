"""The built-in benchmark: small pure-Python projects shipped in the repository.

Layout (`evaluator/builtin/`), swebench's task-repository layout where it
fits::

    sweb.yaml                     datasets and splits, as in a swebench task repo
    subsets.yaml                  small (10), medium (50, disjoint from small); full = all
    tasks/<instance_id>/
        task.yaml                 instance_id, repo, base_commit, log_parser, eval_type,
                                  test_cmd, difficulty, kind, ...
        tests.json                FAIL_TO_PASS and PASS_TO_PASS
        problem_statement.md      the issue, as a user would file it
        gold.patch                the reference fix
        test.patch                the hidden tests (applied only for grading)
        repo/                     the project's files at base_commit

Two deviations from swebench's layout, both because these projects have no
upstream git history: `repo/` holds the source (there is nothing to clone),
and there is no per-task Dockerfile or eval.sh (every task runs in Clade's
sandbox image, and the eval script is generated from `test_cmd` so that 60
copies cannot drift apart). `base_commit` is the commit `evaluator.gitrepo`
makes from `repo/` (fixed author and date), recorded so that an edit of the
files without re-recording is caught.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml

from evaluator import tests_script
from evaluator.errors import BadTask, UnknownTask
from evaluator.task import SANDBOX_REPO_DIR, Task

ROOT = Path(__file__).resolve().parent.parent / "builtin"
BENCHMARK = "builtin"
DEFAULT_TEST_CMD = "python -m pytest -rA -p no:cacheprovider tests"
SUBSETS = ("small", "medium", "full")


def task_dirs(root: Path = ROOT) -> list[Path]:
    tasks = root / "tasks"
    return sorted(d for d in tasks.iterdir() if (d / "task.yaml").is_file()) if tasks.is_dir() else []


def load_task_dir(task_dir: Path, repo_dir: str = SANDBOX_REPO_DIR) -> Task:
    """One task folder as a `Task` whose repository lives at `repo_dir`."""
    try:
        meta = yaml.safe_load((task_dir / "task.yaml").read_text())
        tests = json.loads((task_dir / "tests.json").read_text())
        problem = (task_dir / "problem_statement.md").read_text()
        gold = (task_dir / "gold.patch").read_text()
        test_patch = (task_dir / "test.patch").read_text()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise BadTask(f"task folder {task_dir} is incomplete or malformed ({exc}); "
                      "restore it from git or re-run `python -m evaluator.builtin_tools fix`") from None
    if not (task_dir / "repo").is_dir():
        raise BadTask(f"task folder {task_dir} has no repo/ folder; restore it from git")
    test_cmd = meta.get("test_cmd") or DEFAULT_TEST_CMD
    base_commit = str(meta.get("base_commit") or "")
    return Task(
        benchmark=BENCHMARK,
        instance_id=meta["instance_id"],
        repo=meta["repo"],
        version=str(meta.get("version", "1")),
        base_commit=base_commit,
        problem_statement=problem,
        patch=gold,
        test_patch=test_patch,
        FAIL_TO_PASS=tests.get("FAIL_TO_PASS", []),
        PASS_TO_PASS=tests.get("PASS_TO_PASS", []),
        created_at=str(meta.get("created_at", "")),
        eval_script=tests_script.build(repo_dir=repo_dir, base_commit=base_commit, test_patch=test_patch,
                                      test_cmd=test_cmd),
        log_parser=meta.get("log_parser", "parse_log_pytest"),
        eval_type=meta.get("eval_type", "pass_and_fail"),
        image=None,
        repo_dir=repo_dir,
        source_dir=task_dir / "repo",
        test_timeout=float(meta.get("test_timeout", 120)),
        test_cmd=test_cmd,
        difficulty=meta.get("difficulty"),
        metadata={k: meta[k] for k in ("kind", "files_changed") if k in meta},
    )


@cache
def _all(root: Path) -> dict[str, Task]:
    return {task.instance_id: task for task in (load_task_dir(d) for d in task_dirs(root))}


def subsets(root: Path = ROOT) -> dict[str, list[str]]:
    """Subset name -> task ids; `full` is every task."""
    path = root / "subsets.yaml"
    named = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return {**{k: list(v) for k, v in (named or {}).items()}, "full": sorted(_all(root))}


def load(subset: str | None = None, ids: list[str] | None = None, root: Path = ROOT) -> list[Task]:
    """Tasks of a subset (default: full), or exactly the ids asked for."""
    tasks = _all(root)
    if ids:
        missing = [i for i in ids if i not in tasks]
        if missing:
            raise UnknownTask(f"the built-in benchmark has no task {', '.join(missing)}; "
                              "list them with `clade eval --benchmark builtin --list`")
        return [tasks[i] for i in ids]
    names = subsets(root)
    name = subset or "full"
    if name not in names:
        raise UnknownTask(f"the built-in benchmark has no subset {name!r}; use one of {', '.join(names)}")
    return [tasks[i] for i in names[name]]
