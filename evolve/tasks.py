"""The tasks a run evaluates on, from its benchmark configuration."""

from __future__ import annotations

from evaluator.benchmarks import open_benchmark
from evaluator.task import Task
from evolve.config import BenchmarkConfig


def load_tasks(benchmark: BenchmarkConfig) -> list[Task]:
    """The search's tasks: the subset (or the listed ids) without the held-out ones."""
    held_out = set(benchmark.held_out)
    tasks = open_benchmark(benchmark.name).load(benchmark.subset, benchmark.tasks)
    return [t for t in tasks if t.instance_id not in held_out]


def load_held_out(benchmark: BenchmarkConfig) -> list[Task]:
    """Tasks kept back from the search, for the final confirmation."""
    return open_benchmark(benchmark.name).load(None, benchmark.held_out) if benchmark.held_out else []
