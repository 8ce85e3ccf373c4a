"""Fixtures for engine tests: the built-in tasks, a scripted model world, and
a run configuration pointing the gateway at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evaluator.benchmarks import builtin
from evolve.config import RunConfig, validate_config
from tests.evaluator.conftest import FIXTURES
from tests.evolve.scripted_world import make_responder
from tests.support.scripted_server import ScriptedServer

POLYGLOT = FIXTURES / "polyglot"  # a small checkout of each language, for runs on Polyglot
TASK_IDS = [
    "cachekit__lru-get-refreshes",
    "cachekit__lru-update-existing-key",
    "cachekit__memoize-cache-info",
    "cachekit__memoize-kwargs",
]


@pytest.fixture(scope="session")
def engine_tasks():
    return builtin.load(None, TASK_IDS)


@pytest.fixture
def scripted_world(engine_tasks) -> Iterator[ScriptedServer]:
    with ScriptedServer(make_responder(engine_tasks)) as server:
        yield server


def engine_config(server: ScriptedServer, **changes: Any) -> RunConfig:
    """A small, fast run against the scripted model; `changes` are dotted overrides."""
    data: dict[str, Any] = {
        "name": "engine-test",
        "workers": 2,
        "policy": {"name": "hgm", "params": {"alpha": 0.6, "initial_expansions": 2, "root_evaluations": 2}},
        "benchmark": {"name": "builtin", "subset": "full", "tasks": TASK_IDS},
        "models": {"backends": [{"name": "local", "model": "hosted_vllm/scripted", "api_base": server.base_url,
                                 "max_retries": 0}]},
        "budget": {"task_evaluations": 8, "expansions": 2},
        "timeouts": {"agent_seconds": 120, "tests_seconds": 60, "self_improve_seconds": 120,
                     "validation_seconds": 120},
        "agent": {"max_steps": 5},
        "sandbox": {"memory": "1g"},
        "final": {"min_evaluations": 1},
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return validate_config(data)
