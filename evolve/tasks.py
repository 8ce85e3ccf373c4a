"""The tasks a run evaluates on, from its benchmark configuration."""

from __future__ import annotations

from evaluator.benchmarks import builtin
from evaluator.task import Task
from evolve.config import BenchmarkConfig


def load_tasks(benchmark: BenchmarkConfig) -> list[Task]:
    from evaluator.errors import UnknownBenchmark

    if benchmark.name != "builtin":
        raise UnknownBenchmark(f"benchmark {benchmark.name!r} is not wired to runs yet: use builtin")
    return builtin.load(benchmark.subset, benchmark.tasks)
