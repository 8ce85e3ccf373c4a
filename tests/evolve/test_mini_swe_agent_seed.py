"""A run seeded with mini-swe-agent (`agent.seed: mini-swe-agent`): the root's code is mini-swe-agent's own
source behind the contract adapter, the parent edits it in the agents image, and the child is validated
(compiles, its adapter's tests pass with the agents' interpreter, the contract is kept) and evaluated."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from archive import Archive, NodeStatus, RunStatus
from evaluator.agents import write_agent_code
from evaluator.benchmarks.polyglot import IMAGE_ENV
from evaluator.errors import ImageUnavailable
from evolve.runs import create_run, drive
from tests.evolve.conftest import POLYGLOT, engine_config
from tests.evolve.scripted_world import PROPOSAL
from tests.support.script import ChatRequest, Reply
from tests.support.scripted_server import ScriptedServer

MARK = "CAREFUL = True  # added by the parent"


def _bash(command: str) -> Reply:
    return Reply.text(f"THOUGHT: one step.\n\n```mswea_bash_command\n{command}\n```")


def responder(request: ChatRequest) -> Reply:
    """Diagnosis: a proposal. mini-swe-agent improving itself: one edit of its adapter, then submit.
    mini-swe-agent on a task: submit at once."""
    messages = request.messages
    system = messages[0].get("content") or "" if messages else ""
    task = messages[1].get("content") or "" if len(messages) > 1 else ""
    if "improving a coding agent" in system or "improve ONE" in system:
        return Reply.text("```json\n" + json.dumps(PROPOSAL) + "\n```")
    acted = any("<returncode>" in str(m.get("content")) for m in messages[2:])
    if "mini-swe-agent behind a contract entry point" in task and not acted:
        return _bash(f"printf '\\n{MARK}\\n' >> agent/__main__.py")
    return _bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


@pytest.mark.docker
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_seeded_with_mini_swe_agent_grows_a_valid_child(archive: Archive, agents_image: str) -> None:
    with ScriptedServer(responder) as model:
        config = engine_config(model, agent__seed="mini-swe-agent", workers=1,
                               policy__params={"alpha": 0.6, "initial_expansions": 1, "root_evaluations": 1},
                               budget__task_evaluations=2, budget__expansions=1)
        run = create_run(archive, config)
        assert drive(archive, run.id) == RunStatus.FINISHED
    nodes = archive.repo.list_nodes(run.id)
    root, child = nodes[0], nodes[1]
    assert child.status == NodeStatus.VALID, child.failure_reason
    with tempfile.TemporaryDirectory() as tmp:
        root_code = write_agent_code(archive, root.id, Path(tmp) / "root") / "agent"
        child_code = write_agent_code(archive, child.id, Path(tmp) / "child") / "agent"
        assert (root_code / "minisweagent" / "agents" / "default.py").is_file()
        assert "MIT" in (root_code / "minisweagent" / "LICENSE.md").read_text()
        assert MARK not in (root_code / "__main__.py").read_text() and MARK in (child_code / "__main__.py").read_text()
    evaluations = archive.repo.run_evaluations(run.id)
    assert {e.node_id for e in evaluations} == {root.id, child.id}
    for evaluation in evaluations:
        summary = json.loads(Path(evaluation.log_path, "summary.json").read_text())
        assert summary["agent"] == "mini-swe-agent" and summary["exit_status"] == "Submitted", summary
    purposes = {c.purpose for c in archive.repo.llm_calls(run_id=run.id)}
    assert purposes == {"diagnosis", "self_improve", "solve"}


@pytest.mark.docker
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_polyglot_run_seeded_with_mini_swe_agent_needs_the_agents_image_on_the_toolchain_image(
    archive: Archive, agents_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go's tasks run in the toolchain image, so mini-swe-agent's packages must be there too: the run
    is refused before anything is written, with the command that builds that image."""
    monkeypatch.setenv(IMAGE_ENV, "clade-toolchain-never-built:0")
    with ScriptedServer(responder) as model:
        config = engine_config(model, agent__seed="mini-swe-agent", benchmark__name=f"polyglot:{POLYGLOT}",
                               benchmark__subset="go", benchmark__tasks=None)
        with pytest.raises(ImageUnavailable) as refused:
            create_run(archive, config)
    assert "--base clade-toolchain-never-built:0" in str(refused.value), refused.value
    assert archive.repo.list_runs() == []
