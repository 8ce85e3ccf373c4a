"""SWE-bench: instances from a local JSON / JSONL / parquet file, run in Clade's sandbox.

swebench (5.x) specifies each instance: the row carries `image` (the
instance's Docker image, holding the repository at /testbed),
`eval_script`, `log_parser` and `eval_type`, from which
`swebench.harness.utils.make_test_spec` builds the TestSpec that grades it.
Clade does not use swebench's `run_instance` (it pulls images and runs
privileged, unlimited containers): the agent and the tests run in Clade's
hardened sandbox started from the instance image, which must already be in
the local Docker engine (`require_images` says how to get it otherwise).

A Hugging Face dataset name needs the hub, which is unreachable from here:
export the dataset to a file where it is reachable and pass the file.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from evaluator.errors import BadTask, DatasetUnavailable, UnknownTask
from evaluator.paper_subsets import paper_subsets
from evaluator.task import Task
from evaluator.tests_script import END_TEST_OUTPUT, START_TEST_OUTPUT

BENCHMARK = "swebench"
REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "test_patch", "FAIL_TO_PASS",
            "PASS_TO_PASS")
SPEC_COLUMNS = ("image", "eval_script")
IMAGE_REPO_DIR = "/testbed"
ALIASES = {
    "swe-bench": "SWE-bench/SWE-bench",
    "full": "SWE-bench/SWE-bench",
    "lite": "SWE-bench/SWE-bench_Lite",
    "verified": "SWE-bench/SWE-bench_Verified",
    "multilingual": "SWE-bench/SWE-bench_Multilingual",
}
HUB_HOST = "huggingface.co:443"
HUB_PROBE_ENV = "CLADE_HF_PROBE"  # host:port tried to tell whether the hub is reachable


def _hub_reachable(timeout: float = 3.0) -> bool:
    host, _, port = os.environ.get(HUB_PROBE_ENV, HUB_HOST).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _export_hint(name: str) -> str:
    return (
        "on a machine that can reach it, run `python -c \"from datasets import load_dataset; "
        f"load_dataset('{name}', split='test').to_json('swebench.jsonl')\"`, copy swebench.jsonl here and pass "
        "--benchmark swebench:/path/to/swebench.jsonl"
    )


def read_rows(source: str, split: str = "test") -> list[dict[str, Any]]:
    """Rows from a .json / .jsonl / .parquet file (or a folder with `<split>.parquet`)."""
    path = Path(source).expanduser()
    if path.is_dir() and (path / f"{split}.parquet").is_file():
        path = path / f"{split}.parquet"
    if path.is_file():
        try:
            if path.suffix == ".jsonl":
                return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if path.suffix == ".json":
                data = json.loads(path.read_text())
                return list(data.values()) if isinstance(data, dict) else list(data)
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                return pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:
            raise DatasetUnavailable(
                f"cannot read {path}: {exc}; pass a SWE-bench export (.json, .jsonl, .parquet)"
            ) from None
        raise DatasetUnavailable(f"{path}: unknown format {path.suffix!r}; pass a .json, .jsonl or .parquet file")
    if path.suffix in (".json", ".jsonl", ".parquet") or source.startswith((".", "/", "~")):
        raise DatasetUnavailable(f"no dataset file at {path}: check the path (--benchmark swebench:FILE)")
    name = ALIASES.get(source.lower(), source)
    if not _hub_reachable():
        raise DatasetUnavailable(f"{name} is a Hugging Face dataset, and the hub is unreachable from here; "
                                 + _export_hint(name))
    try:  # pragma: no cover - needs the network
        from swebench.harness.utils import load_swebench_dataset

        return [dict(row) for row in load_swebench_dataset(name, split)]
    except Exception as exc:  # pragma: no cover - needs the network
        raise DatasetUnavailable(f"loading {name} from Hugging Face failed ({exc}); " + _export_hint(name)) from None


def row_task(row: dict[str, Any]) -> Task:
    missing = [c for c in (*REQUIRED, *SPEC_COLUMNS) if c not in row or row[c] in (None, "")]
    if missing:
        raise DatasetUnavailable(
            f"instance {row.get('instance_id', '?')} lacks {', '.join(missing)}: Clade runs SWE-bench through "
            "swebench 5, whose instances carry their image and eval script; export the dataset revision that "
            "has these columns, or build it from a task repo with `swebench dataset build`"
        )
    missing = [marker for marker in (START_TEST_OUTPUT, END_TEST_OUTPUT) if marker not in row["eval_script"]]
    if missing:
        raise BadTask(
            f"instance {row['instance_id']}: its eval_script lacks swebench's test-output marker(s) "
            f"{' and '.join(repr(m) for m in missing)}, so its log could not be graded (every test would count as "
            "failed): export the dataset with swebench 5's eval scripts, or leave the instance out with --tasks"
        )
    log_parser = row.get("log_parser") or _default_parser(row["repo"])
    return Task(
        benchmark=BENCHMARK,
        instance_id=row["instance_id"],
        repo=row["repo"],
        version=str(row.get("version") or ""),
        base_commit=row["base_commit"],
        problem_statement=row["problem_statement"],
        test_patch=row["test_patch"],
        patch=row.get("patch") or "",
        FAIL_TO_PASS=row["FAIL_TO_PASS"],
        PASS_TO_PASS=row["PASS_TO_PASS"],
        hints_text=row.get("hints_text") or "",
        created_at=str(row.get("created_at") or ""),
        eval_script=row["eval_script"],
        log_parser=log_parser,
        eval_type=row.get("eval_type") or "pass_and_fail",
        image=row["image"],
        repo_dir=row.get("repo_dir") or IMAGE_REPO_DIR,
        source_dir=None,
        test_timeout=float(row.get("test_timeout") or 1800),
        metadata={k: row[k] for k in ("difficulty", "environment_setup_commit") if row.get(k)},
    )


def _default_parser(repo: str) -> str:
    """swebench's per-repository parser, for rows that do not name one."""
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(repo)
    for name, function in PARSER_REGISTRY.items():
        if function is parser:
            return name
    raise DatasetUnavailable(f"no log_parser for repository {repo}: add a log_parser column to the dataset")


class SWEBenchBenchmark:
    """Instances of one dataset file; subsets: `full`, and the papers' `dgm-small` /
    `dgm-medium` (SWE-bench Verified ids: the file must hold them)."""

    name = BENCHMARK

    def __init__(self, source: str, split: str = "test") -> None:
        self.source = source
        self._rows = {row["instance_id"]: row for row in read_rows(source, split) if "instance_id" in row}
        if not self._rows:
            raise DatasetUnavailable(f"{source} holds no instances (rows need an instance_id)")

    def ids(self) -> list[str]:
        return sorted(self._rows)

    def subsets(self) -> dict[str, list[str]]:
        return {"full": self.ids(), **paper_subsets(BENCHMARK)}

    def load(self, subset: str | None = None, ids: list[str] | None = None) -> list[Task]:
        if ids:
            missing = [i for i in ids if i not in self._rows]
            if missing:
                raise UnknownTask(f"{self.source} has no instance {', '.join(missing)}")
            return [row_task(self._rows[i]) for i in ids]
        papers = paper_subsets(BENCHMARK)
        if subset in papers:
            missing = [i for i in papers[subset] if i not in self._rows]
            if missing:
                raise UnknownTask(f"{self.source} lacks {len(missing)} of the {len(papers[subset])} instances of "
                                  f"{subset} (e.g. {missing[0]}): it is a SWE-bench Verified list; pass a file "
                                  "exported from SWE-bench/SWE-bench_Verified")
            return [row_task(self._rows[i]) for i in papers[subset]]
        if subset not in (None, "full"):
            raise UnknownTask(f"SWE-bench files have the subsets full, {', '.join(papers)}; "
                              "pick instances with --tasks ID,...")
        return [row_task(row) for row in self._rows.values()]
