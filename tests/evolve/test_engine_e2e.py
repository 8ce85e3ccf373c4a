"""A whole run in real sandboxes, with the scripted model server behind the
real gateway: the tree grows, children are validated and evaluated, the best
is exported, and the exported agent runs."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from archive import Archive, NodeStatus, Outcome, RunStatus
from archive.export import MANIFEST_NAME, export_node
from evaluator.contract import AgentLimits, ModelAccess
from evaluator.task_run import EvalOptions
from evolve.evaluation import EvaluateUnit, run_evaluation
from evolve.policies import make_policy
from evolve.runs import create_run, drive
from evolve.units import pack_code
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from tests.evolve.conftest import engine_config
from tests.evolve.scripted_world import CAREFUL


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL: see test_resume
def test_a_run_grows_validates_evaluates_and_exports(
    archive: Archive, sandbox_image: str, scripted_world, engine_tasks, tmp_path: Path
) -> None:
    config = engine_config(
        scripted_world,
        policy__params={"alpha": 0.6, "initial_expansions": 5, "root_evaluations": 2},
        budget__task_evaluations=14, budget__expansions=6, workers=2,
    )
    run = create_run(archive, config)
    assert drive(archive, run.id) == RunStatus.FINISHED

    final = archive.repo.get_run(run.id)
    nodes = archive.repo.list_nodes(run.id)
    evaluations = archive.repo.run_evaluations(run.id)
    children = [n for n in nodes if n.parent_id is not None]
    valid = [n for n in children if n.status == NodeStatus.VALID]
    # HGM: 5 initial expansions of the root, then one more only if 14 ** 0.6 >= nodes (it is not).
    assert len(children) == 5 and len(valid) == 5, [(n.id, n.status, n.failure_reason) for n in children]
    assert all(n.proposal and n.proposal["improvement_proposal"] for n in valid)
    assert all(n.entry_task for n in children)
    assert len(evaluations) == 14 and all(e.outcome is not None for e in evaluations)
    assert len({(e.node_id, e.task_id) for e in evaluations}) == 14  # no node ran a task twice
    root = nodes[0]
    assert all(e.outcome == Outcome.UNRESOLVED for e in evaluations if e.node_id == root.id)
    assert all(e.outcome == Outcome.RESOLVED for e in evaluations if e.node_id != root.id)
    assert all(Path(e.log_path, "trajectory.jsonl").is_file() for e in evaluations)
    assert all(e.details["agent"] == f"node:{e.node_id}" for e in evaluations)  # not the temporary folder it ran from

    # Every model call is accounted to the node that spent it.
    calls = archive.repo.llm_calls(run_id=run.id)
    assert {c.purpose for c in calls} == {"diagnosis", "self_improve", "solve"}
    assert {c.node_id for c in calls if c.purpose == "diagnosis"} == {n.id for n in children}
    assert all(c.evaluation_id for c in calls if c.purpose == "solve")
    assert final.llm_calls_count == len(calls) and final.prompt_tokens > 0

    # The tree's counts and the final choice.
    tree = archive.repo.tree(run.id)
    children_evaluated = sum(1 for e in evaluations if e.node_id != root.id)
    assert (tree[root.id].clade_total, tree[root.id].clade_resolved) == (14, children_evaluated)
    assert tree[root.id].own_total == 14 - children_evaluated and tree[root.id].own_resolved == 0
    assert final.best_node_id in {n.id for n in valid}
    kinds = [e.kind for e in archive.repo.events_since(run.id, limit=1000)]
    assert kinds[0] == "run_created" and kinds[-1] == "run_finished"
    assert kinds.count("expansion_finished") == 5 and kinds.count("evaluation_finished") == 14

    # The exported best agent is the improved one, and it runs.
    out = export_node(archive, final.best_node_id, tmp_path / "best.tar.gz")
    unpacked = tmp_path / "best"
    with tarfile.open(out) as tar:
        tar.extractall(unpacked, filter="data")
    assert CAREFUL in (unpacked / "agent" / "prompts.py").read_text()
    manifest = json.loads((unpacked / MANIFEST_NAME).read_text())
    assert manifest["node"]["id"] == final.best_node_id
    # What the result is: the model, the whole config, the search's conventions, the node's own results.
    assert manifest["run"]["models"] == ["hosted_vllm/scripted"] and manifest["run"]["config"] == run.config
    conventions = make_policy(config.policy.name, **config.policy.params).conventions()
    assert manifest["run"]["search"] == {"policy": "hgm", "conventions": json.loads(json.dumps(conventions))}
    best_rows = [e for e in evaluations if e.node_id == final.best_node_id]
    assert sorted((r["task_id"], r["outcome"]) for r in manifest["results"]) == sorted(
        (e.task_id, e.outcome.value) for e in best_rows)
    socket_dir = Path(tmp_path / "gw")
    socket_dir.mkdir()
    socket_dir.chmod(0o755)
    backend = BackendConfig(name="local", model="hosted_vllm/scripted", api_base=scripted_world.base_url)
    with Gateway(GatewayConfig(backends=[backend], socket_path=socket_dir / "llm.sock"), repo=archive.repo) as gateway:
        token = gateway.issue_token(run_id=run.id, purpose="solve")
        result = run_evaluation(EvaluateUnit(
            evaluation_id=0, node_id=final.best_node_id, task=engine_tasks[0], agent_code=pack_code(unpacked),
            options=EvalOptions(model=ModelAccess(str(socket_dir / "llm.sock"), "local", token), limits=config.sandbox,
                                agent_limits=AgentLimits(max_steps=5, seconds=120), tests_timeout=60),
        ))
    assert result.outcome == Outcome.RESOLVED, result.reason
