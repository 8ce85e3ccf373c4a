"""The loop against a scripted model: fixing a bug, surviving a bad model,
stopping at each limit."""

from __future__ import annotations

import json
from pathlib import Path

from agent.llm import ModelClient
from agent.loop import Agent, Limits
from agent.tests.fake_model import FakeModel, error, text, tool_call

FIX = {"command": "str_replace", "path": "calc.py", "old": "return a - b", "new": "return a + b"}


def run_agent(script, repo: Path, out: Path, **limits) -> tuple[dict, FakeModel]:
    with FakeModel(script) as model:
        client = ModelClient(model.url, "test-model", token="tok", backoff=0.01)
        summary = Agent(client, repo, out, Limits(**limits)).run("add() returns the wrong result")
    return summary, model


def trajectory(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]


def test_fixes_a_bug_with_tool_calls(buggy_repo: Path, tmp_path: Path) -> None:
    script = [tool_call("bash", {"command": "cat calc.py"}), tool_call("editor", FIX), tool_call("finish", {"summary": "fixed"})]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "finished" and summary["steps"] == 3
    patch = (tmp_path / "out" / "patch.diff").read_text()
    assert "-    return a - b" in patch and "+    return a + b" in patch
    assert model.requests[0]["auth"] == "Bearer tok" and model.requests[0]["body"]["tools"]
    assert model.requests[0]["body"]["max_tokens"] == 1024
    tools = [e for e in trajectory(tmp_path / "out") if e["type"] == "tool"]
    assert "return a - b" in tools[0]["result"]
    assert summary["prompt_tokens"] == 30


def test_text_actions_work_without_tool_calls(buggy_repo: Path, tmp_path: Path) -> None:
    script = [
        text("Let me fix it.\n```editor\n" + json.dumps(FIX) + "\n```"),
        text("```bash\npython -c 'import calc; print(calc.add(2, 3))'\n```"),
        text("```finish\ndone\n```"),
    ]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "finished"
    assert "5" in [e for e in trajectory(tmp_path / "out") if e["type"] == "tool"][1]["result"]
    assert "+    return a + b" in (tmp_path / "out" / "patch.diff").read_text()


def test_survives_a_bad_model(buggy_repo: Path, tmp_path: Path) -> None:
    script = [
        tool_call("editor", "{not json"),  # malformed arguments
        tool_call("rm_rf", {}),  # unknown tool
        text(""),  # empty answer
        error(500, "internal error"),  # retried...
        text("```bash\necho recovered\n```"),  # ...and the retry gets an answer
        {"status": 200, "body": "garbage, not json"},  # not a completion: ends the run cleanly
    ]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "model_error" and summary["error"] is None
    results = [e["result"] for e in trajectory(tmp_path / "out") if e["type"] == "tool"]
    assert "could not parse the arguments" in results[0] and "unknown tool" in results[1]
    assert "recovered" in results[2]
    assert any("found no action" in (e.get("content") or "") for e in trajectory(tmp_path / "out"))
    assert (tmp_path / "out" / "patch.diff").read_text() == ""
    assert len(model.requests) == 6


def test_context_too_long_shortens_history(buggy_repo: Path, tmp_path: Path) -> None:
    script = [tool_call("bash", {"command": f"echo {i}"}) for i in range(6)]
    script += [error(400, "This model's maximum context length is 8192 tokens", "context_length_exceeded")]
    script += [tool_call("finish", {"summary": "ok"})]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "finished"
    last = model.requests[-1]["body"]["messages"]
    assert len(last) < len(model.requests[-2]["body"]["messages"])
    assert any("earlier messages were removed" in m["content"] for m in last if m["role"] == "user")
    assert last[2]["role"] != "tool"


def test_server_that_refuses_tools_gets_text_actions(buggy_repo: Path, tmp_path: Path) -> None:
    script = [error(400, '"auto" tool choice requires --enable-auto-tool-choice'), text("```finish\nnothing\n```")]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "finished"
    assert "tools" in model.requests[0]["body"] and "tools" not in model.requests[1]["body"]


def test_limits_end_the_run_cleanly(buggy_repo: Path, tmp_path: Path) -> None:
    loop_forever = [tool_call("bash", {"command": "echo still working >> log.txt"}, tokens=100)]
    by_steps, _ = run_agent(loop_forever, buggy_repo, tmp_path / "a", max_steps=3)
    assert by_steps["status"] == "step_limit" and by_steps["steps"] == 3
    assert "+still working" in (tmp_path / "a" / "patch.diff").read_text()
    by_tokens, _ = run_agent(loop_forever, buggy_repo, tmp_path / "b", max_tokens=250)
    assert by_tokens["status"] == "token_limit" and by_tokens["steps"] == 3
    by_time, _ = run_agent(loop_forever, buggy_repo, tmp_path / "c", max_seconds=0)
    assert by_time["status"] == "time_limit" and by_time["steps"] == 0
    for out in ("a", "b", "c"):
        assert {p.name for p in (tmp_path / out).iterdir()} == {"patch.diff", "trajectory.jsonl", "summary.json"}


def test_a_spent_budget_is_not_retried(buggy_repo: Path, tmp_path: Path) -> None:
    script = [error(429, "run 1 is over its token budget", "budget_exceeded"), tool_call("finish", {})]
    summary, model = run_agent(script, buggy_repo, tmp_path / "out")
    assert summary["status"] == "model_error" and len(model.requests) == 1
