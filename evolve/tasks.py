"""The tasks a run evaluates on, from its benchmark configuration."""

from __future__ import annotations

from evaluator.benchmarks import builtin
from evaluator.task import Task
from evolve.config import BenchmarkConfig


def load_tasks(benchmark: BenchmarkConfig) -> list[Task]:
    """The search's tasks: the subset (or the listed ids) without the held-out ones."""
    from evaluator.errors import UnknownBenchmark

    if benchmark.name != "builtin":
        raise UnknownBenchmark(f"benchmark {benchmark.name!r} is not wired to runs yet: use builtin")
    held_out = set(benchmark.held_out)
    return [t for t in builtin.load(benchmark.subset, benchmark.tasks) if t.instance_id not in held_out]


def load_held_out(benchmark: BenchmarkConfig) -> list[Task]:
    """Tasks kept back from the search, for the final confirmation."""
    return builtin.load(None, benchmark.held_out) if benchmark.held_out else []
