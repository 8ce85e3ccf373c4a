"""The seed agent in a real sandbox, reaching the model only through the
gateway's mounted socket: a scripted model that fixes a planted bug or
misbehaves in every way, and the real embedded local model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from archive import Archive
from evaluator.agent_run import run_agent
from evaluator.contract import AgentLimits, ModelAccess
from llm.config import LOCAL_MODEL_NAME
from sandbox.docker_sandbox import DockerSandbox
from tests.support.script import Reply
from tests.support.scripted_server import ScriptedServer

HIDDEN_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def hidden_test_passes(repo: Path, patch: str) -> bool:
    with DockerSandbox() as sb:
        sb.copy_in(repo, "/workspace/repo")
        sb.write_files({"/workspace/fix.diff": patch, "/workspace/repo/test_hidden.py": HIDDEN_TEST})
        result = sb.exec("cd /workspace/repo && git apply /workspace/fix.diff && python -m pytest -q test_hidden.py")
    return result.ok


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fixes_a_planted_bug(sandbox_image: str, buggy_repo: Path, gateway_for) -> None:
    fix = {"command": "str_replace", "path": "calc.py", "old": "return a - b", "new": "return a + b"}
    script = [Reply.tool_call("bash", {"command": "cat calc.py"}), Reply.tool_call("editor", fix),
              Reply.tool_call("finish", {"summary": "fixed add"})]
    with ScriptedServer(script) as model:
        gateway, access = gateway_for(model.base_url)
        run = run_agent(Path(__file__).resolve().parents[2], buggy_repo, "add() subtracts", access,
                        agent_limits=AgentLimits(max_steps=10, seconds=120))
        gateway.flush()
    assert run.summary["status"] == "finished", run.output
    assert set(run.files) == {"patch.diff", "trajectory.jsonl", "summary.json"}
    assert hidden_test_passes(buggy_repo, run.patch)
    assert not hidden_test_passes(buggy_repo, "")
    assert len(model.chat_requests) == 3 and all(r.get("tools") for r in model.chat_requests)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_survives_a_misbehaving_model_and_stops_at_its_limits(sandbox_image: str, buggy_repo: Path, gateway_for) -> None:
    script = [
        Reply.malformed_tool_call("bash", '{"command": "ls'),
        Reply.empty(),
        Reply.server_error(),
        Reply.context_length_exceeded(),
        Reply.tool_call("bash", {"command": "echo step >> notes.txt"}),
    ]
    with ScriptedServer(script + [Reply.tool_call("bash", {"command": "echo step >> notes.txt"})] * 10) as model:
        _, access = gateway_for(model.base_url)
        run = run_agent(Path(__file__).resolve().parents[2], buggy_repo, "add() subtracts", access,
                        agent_limits=AgentLimits(max_steps=4, seconds=120))
    summary = run.summary
    assert summary["status"] == "step_limit" and summary["steps"] == 4, run.output
    trajectory = [json.loads(line) for line in run.files["trajectory.jsonl"].splitlines()]
    kinds = [e["type"] for e in trajectory]
    assert "model_error" in kinds  # the 500 (the gateway does not retry: max_retries=0) and the context error
    assert any("could not parse the arguments" in (e.get("result") or "") for e in trajectory)
    assert "+step" in run.patch


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_real_local_model_runs_a_task_end_to_end(
    sandbox_image: str, buggy_repo: Path, gateway_for, local_model, archive: Archive
) -> None:
    gateway, access = gateway_for(local_model.api_base, f"hosted_vllm/{LOCAL_MODEL_NAME}")
    run = run_agent(Path(__file__).resolve().parents[2], buggy_repo, "The function add in calc.py subtracts. Fix it.",
                    access, agent_limits=AgentLimits(max_steps=3, max_tokens=30_000, seconds=300,
                                                     max_answer_tokens=128))
    gateway.flush()
    assert set(run.files) == {"patch.diff", "trajectory.jsonl", "summary.json"}, run.output
    summary = run.summary
    assert summary["steps"] >= 1 and summary["prompt_tokens"] > 0
    assert summary["status"] in {"finished", "step_limit", "token_limit", "model_error", "context_overflow"}
    assert [c for c in archive.repo.llm_calls() if c.purpose == "solve" and c.error is None]
