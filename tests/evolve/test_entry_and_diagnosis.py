"""Entry selection and the diagnosis step's parsing, prompts and retries."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from evaluator.contract import ModelAccess
from evolve.diagnosis import (
    RESPONSE_FORMAT,
    Attempt,
    DiagnosisFailed,
    EntryMaterial,
    build_messages,
    diagnose,
    parse_proposal,
    self_improve_task,
)
from evolve.entry import Entry, TaskRecord, choose_entry
from evolve.expansion import gateway_chat
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from tests.support.script import ChatRequest, Reply, Script
from tests.support.scripted_server import ScriptedServer

GOOD = {
    "log_summary": "The agent edited the wrong file.",
    "potential_improvements": ["look before editing"],
    "improvement_proposal": "Search the repository before the first edit.",
    "implementation_suggestion": "In loop.py, add a grep step.",
    "problem_description": "Make the agent search for the symbol named in the issue before editing.",
}


def record(i: int, resolved: bool = False, empty: bool = False, overflow: bool = False) -> TaskRecord:
    return TaskRecord(i, f"task-{i}", resolved, empty, overflow)


def test_entry_kinds_follow_dgm_frequencies() -> None:
    rng = random.Random(0)
    records = [record(0, empty=True), record(1, empty=True), record(2), record(3, resolved=True), record(4, overflow=True)]
    kinds = Counter(choose_entry(records, rng).kind for _ in range(4000))
    # 25 % empty patches; then 25 % of the rest stochasticity; then 25 % of the rest context length
    assert kinds["empty_patches"] / 4000 == pytest.approx(0.25, abs=0.03)
    assert kinds["stochasticity"] / 4000 == pytest.approx(0.75 * 0.25, abs=0.03)
    assert kinds["context_length"] / 4000 == pytest.approx(0.75 * 0.75 * 0.25, abs=0.03)
    assert choose_entry([record(3, resolved=True)], rng).task.task_id == "task-3"  # nothing failed: any task
    assert choose_entry([], rng) is None
    plain = [record(5), record(6, resolved=True)]
    picks = Counter(e.task.task_id for e in (choose_entry(plain, rng) for _ in range(400)) if e.kind == "task")
    assert set(picks) == {"task-5"}  # failed tasks first


def test_parse_proposal_accepts_fenced_or_bare_json_and_names_what_is_wrong() -> None:
    assert parse_proposal("Here:\n```json\n" + json.dumps(GOOD) + "\n```").problem_description.startswith("Make")
    assert parse_proposal("sure " + json.dumps(GOOD) + " done").log_summary
    with pytest.raises(ValueError, match="no JSON object"):
        parse_proposal("I think the agent is fine.")
    with pytest.raises(ValueError, match="does not parse"):
        parse_proposal("{'single': 'quotes'}")
    with pytest.raises(ValueError, match="problem_description"):
        parse_proposal(json.dumps({k: v for k, v in GOOD.items() if k != "problem_description"}))


def test_diagnose_retries_with_the_problem_then_gives_up() -> None:
    answers = iter(["no json here", "```json\n" + json.dumps(GOOD) + "\n```"])
    seen: list[list[dict]] = []

    def chat(messages):
        seen.append(messages)
        return next(answers)

    proposal = diagnose(chat, [{"role": "user", "content": "diagnose"}])
    assert proposal.improvement_proposal == GOOD["improvement_proposal"]
    assert "could not be used: the answer holds no JSON object" in seen[1][-1]["content"]
    with pytest.raises(DiagnosisFailed, match="no valid proposal in 2 tries"):
        diagnose(lambda m: "nope", [{"role": "user", "content": "x"}], attempts=2)


def test_prompts_hold_the_material_within_the_budget(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "agent" / "tests").mkdir(parents=True)
    (code / "agent" / "loop.py").write_text("def loop():\n    pass\n")
    (code / "agent" / "tests" / "test_x.py").write_text("SECRET_TEST_CODE = 1\n")
    material = EntryMaterial("task-9", "add() is wrong", "x" * 50_000 + "LAST_STEP", "", "unresolved", "1 failed")
    entry = Entry("empty_patches", record(9, empty=True))
    messages = build_messages(entry, material, code, max_chars=8000)
    user = messages[1]["content"]
    assert "def loop()" in user and "SECRET_TEST_CODE" not in user
    assert "LAST_STEP" in user and "characters cut" in user and len(user) < 9000
    assert "WITHOUT producing any patch" in user and "(empty: no change)" in user
    custom = tmp_path / "prompts"
    custom.mkdir()
    (custom / "diagnosis_system.md").write_text("MY OWN SYSTEM PROMPT")
    assert build_messages(entry, material, code, 8000, prompts_dir=custom)[0]["content"] == "MY OWN SYSTEM PROMPT"


def test_self_improve_task_carries_the_proposal() -> None:
    text = self_improve_task(parse_proposal(json.dumps(GOOD)))
    assert GOOD["problem_description"] in text and "agent/tests" in text


def _structured_or_refused(refuse: bool):  # type: ignore[no-untyped-def]
    """A backend that answers the proposal as bare JSON, or refuses `response_format` with a 400."""
    def responder(request: ChatRequest) -> Reply:
        if "response_format" in request.body and refuse:
            return Reply.http_error(400, "response_format is not supported by this model", "invalid_request_error")
        return Reply.text(json.dumps(GOOD))
    return responder


@pytest.mark.parametrize("refuse", [False, True], ids=["structured", "refused-then-text"])
def test_the_diagnosis_asks_for_its_schema_and_falls_back_to_text(refuse: bool, short_tmp: Path) -> None:
    with ScriptedServer(Script(default=_structured_or_refused(refuse))) as server:
        backend = BackendConfig(name="m", model="hosted_vllm/scripted", api_base=server.base_url, max_retries=0)
        with Gateway(GatewayConfig(backends=[backend], socket_path=short_tmp / "g.sock")) as gateway:
            access = ModelAccess(str(short_tmp / "g.sock"), "m", gateway.issue_token(purpose="diagnosis",
                                                                                            model="m"))
            chat = gateway_chat(access, 256, timeout=60, response_format=RESPONSE_FORMAT)
            answers: list[Attempt] = []
            for _ in range(2):
                assert diagnose(chat, [{"role": "user", "content": "diagnose"}], record=answers).log_summary
        bodies = server.chat_requests
    assert [a.problem for a in answers] == [None, None]
    formats = [body.get("response_format") for body in bodies]
    if refuse:  # asked once with the schema, then never again
        assert formats == [RESPONSE_FORMAT, None, None]
    else:
        assert formats == [RESPONSE_FORMAT, RESPONSE_FORMAT]
    assert RESPONSE_FORMAT["json_schema"]["schema"]["required"] == list(GOOD)  # the schema asks for every field
