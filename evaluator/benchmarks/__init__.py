"""Benchmarks by name: `builtin`, `polyglot:PATH`, `swebench:NAME_OR_FILE`.

Each benchmark loads into the same `Task` model and lists its subsets;
`open_benchmark` turns the CLI's (and the run config's) spelling into one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from evaluator.errors import UnknownBenchmark
from evaluator.task import Task


class Benchmark(Protocol):
    name: str

    def subsets(self) -> dict[str, list[str]]: ...

    def load(self, subset: str | None = None, ids: list[str] | None = None) -> list[Task]: ...


class BuiltinBenchmark:
    """The built-in benchmark shipped in `evaluator/builtin/`."""

    name = "builtin"

    def subsets(self) -> dict[str, list[str]]:
        from evaluator.benchmarks import builtin

        return builtin.subsets()

    def load(self, subset: str | None = None, ids: list[str] | None = None) -> list[Task]:
        from evaluator.benchmarks import builtin

        return builtin.load(subset, ids)


def open_benchmark(spec: str) -> Benchmark:
    """`builtin`, `polyglot:PATH` or `swebench:NAME_OR_FILE` as a Benchmark."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "builtin" and not arg:
        return BuiltinBenchmark()
    if kind == "polyglot" and arg:
        from evaluator.benchmarks.polyglot import PolyglotBenchmark

        return PolyglotBenchmark(Path(arg))
    if kind == "swebench" and arg:
        from evaluator.benchmarks.swe_bench import SWEBenchBenchmark

        return SWEBenchBenchmark(arg)
    raise UnknownBenchmark(
        f"unknown benchmark {spec!r}: use builtin, polyglot:PATH (a polyglot-benchmark checkout) "
        "or swebench:NAME_OR_FILE (a .json/.jsonl/.parquet export)"
    )
