"""Each way an expansion can fail ends in an invalid node whose reason and
evidence say which stage failed, and the run goes on to its end; and a
driver that dies between storing a child's code and recording its row loses
nothing it paid for."""

from __future__ import annotations

import json

import pytest

from archive import Archive, NodeStatus, RunStatus
from archive.repository import ArchiveRepository
from evolve.runs import create_run, drive
from tests.evolve.conftest import engine_config
from tests.evolve.scripted_world import make_responder
from tests.support.script import ChatRequest, Reply
from tests.support.scripted_server import ScriptedServer

BIG_FILE = "printf '%040000d' 0 > agent/blob.txt"  # 40 000 bytes: over the run's max_file_bytes below


def _world(tasks, failure: str):  # type: ignore[no-untyped-def]
    """The scripted world, except at the one stage that is to fail."""
    normal = make_responder(tasks)

    def responder(request: ChatRequest) -> Reply:
        system = request.messages[0].get("content") or ""
        task_text = request.messages[1].get("content") or "" if len(request.messages) > 1 else ""
        acted = any(m.get("role") == "tool" for m in request.messages)
        if failure == "diagnosis" and ("improving a coding agent" in system or "improve ONE" in system):
            return Reply.text("I would rather not say.")
        if "YOUR OWN code" in task_text and not acted:
            if failure == "self_improve":
                return Reply.tool_call("finish", {"summary": "all good as it is"})
            if failure == "patch":
                return Reply.tool_call("bash", {"command": BIG_FILE})
        return normal(request)

    return responder


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("failure, reason", [
    ("diagnosis", "diagnosis: diagnosis gave no valid proposal in 3 tries (last problem: the answer holds no JSON"),
    ("self_improve", "self_improve: the parent agent changed nothing"),
    ("patch", "patch: "),
])
def test_a_failed_stage_makes_an_invalid_node_with_its_evidence(archive: Archive, sandbox_image: str, engine_tasks,
                                                                failure: str, reason: str) -> None:
    with ScriptedServer(_world(engine_tasks, failure)) as server:
        config = engine_config(server, budget__task_evaluations=2, budget__expansions=1, code__max_file_bytes=20_000,
                               policy__params={"initial_expansions": 1, "root_evaluations": 1})
        run = create_run(archive, config)
        assert drive(archive, run.id) == RunStatus.FINISHED
    [child] = [n for n in archive.repo.list_nodes(run.id) if n.parent_id is not None]
    assert child.status == NodeStatus.INVALID and child.commit is None
    assert child.failure_reason is not None and child.failure_reason.startswith(reason), child.failure_reason
    logs = archive.home.logs_dir(run.id) / f"node-{child.id}"
    answers = json.loads((logs / "diagnosis_answers.json").read_text())
    if failure == "diagnosis":  # every answer is kept, each with what was wrong with it
        assert [a["answer"] for a in answers] == ["I would rather not say."] * 3
        assert all("holds no JSON object" in a["problem"] for a in answers)
    else:
        assert [a["problem"] for a in answers] == [None]
    if failure == "patch":
        assert "blob.txt" in child.failure_reason and "20000" in child.failure_reason
    assert json.loads((logs / "diagnosis_prompt.json").read_text())[0]["role"] == "system"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_driver_dying_between_the_code_and_the_row_keeps_the_paid_expansion(
        archive: Archive, sandbox_image: str, scripted_world, monkeypatch: pytest.MonkeyPatch) -> None:
    run = create_run(archive, engine_config(scripted_world, budget__task_evaluations=2, budget__expansions=1,
                                            policy__params={"initial_expansions": 1, "root_evaluations": 1}))
    recording = ArchiveRepository.update_node

    def dies_after_the_code(self, node_id, **fields):  # type: ignore[no-untyped-def]
        if fields.get("status") in (NodeStatus.VALID, NodeStatus.INVALID):
            raise KeyboardInterrupt  # the process ends here: the code is stored, the row still says building
        return recording(self, node_id, **fields)

    monkeypatch.setattr(ArchiveRepository, "update_node", dies_after_the_code)
    with pytest.raises(KeyboardInterrupt):
        drive(archive, run.id)
    monkeypatch.undo()
    [child] = [n for n in archive.repo.list_nodes(run.id) if n.parent_id is not None]
    assert child.status == NodeStatus.BUILDING and child.commit is not None
    paid = [c.id for c in archive.repo.llm_calls(node_id=child.id)]
    assert paid  # the diagnosis and the self-improvement were paid for

    assert drive(archive, run.id) == RunStatus.FINISHED
    events = archive.repo.events_since(run.id, limit=1000)
    assert [e.payload["node_id"] for e in events if e.kind == "expansion_recovered"] == [child.id]
    assert [e.payload["node_id"] for e in events if e.kind == "expansion_started"] == [child.id]  # not run again
    expansion_calls = [c.id for c in archive.repo.llm_calls(node_id=child.id) if c.evaluation_id is None]
    assert expansion_calls == paid
    recovered = archive.repo.get_node(child.id)
    assert recovered.status == NodeStatus.VALID and recovered.commit is not None
    assert "Be careful." in archive.node_diff(child.id)
