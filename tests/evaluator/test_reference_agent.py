"""Any agent, the ordinary way: the loopback OpenAI endpoint in a sandbox, and mini-swe-agent behind
the contract, on the agents image (the sandbox image plus mini-swe-agent's pinned packages).

The model is the scripted server speaking the OpenAI protocol over HTTP, behind the real gateway
(for the token and the accounting) or straight on its Unix socket (for the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive import CladeHome
from evaluator import agents_image as agents
from evaluator.agent_run import run_agent
from evaluator.contract import AgentLimits
from sandbox.docker_sandbox import DockerSandbox
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer

pytestmark = pytest.mark.docker

# Run inside the sandbox by the agents image's interpreter: the openai SDK and litellm, as any agent
# would hold them, with nothing but the variables the sandbox sets.
CLIENTS = r'''
import json, os, socket
import litellm, openai

model, asked = os.environ["CLADE_MODEL"], [{"role": "user", "content": "ping"}]
seen = {}
client = openai.OpenAI(max_retries=0)
seen["sdk"] = client.chat.completions.create(model=model, messages=asked).choices[0].message.content
stream = client.chat.completions.create(model=model, messages=asked, stream=True)
seen["sdk_stream"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
seen["litellm"] = litellm.completion(model="openai/" + model, messages=asked).choices[0].message.content
stream = litellm.completion(model="openai/" + model, messages=asked, stream=True)
seen["litellm_stream"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
try:
    openai.OpenAI(api_key="clade-not-a-token", max_retries=0).chat.completions.create(model=model, messages=asked)
    seen["wrong_token"] = "answered"
except openai.AuthenticationError as exc:
    seen["wrong_token"] = exc.status_code
for host, port in (("8.8.8.8", 53), ("172.17.0.1", 2375), ("127.0.0.1", 8000)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        seen[f"{host}:{port}"] = "reached"
    except OSError:
        seen[f"{host}:{port}"] = "unreachable"
print("SEEN " + json.dumps(seen))
'''


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_openai_sdk_and_litellm_reach_the_gateway_on_loopback_and_nothing_else(agents_image: str, gateway_for,
                                                                                  archive) -> None:
    with ScriptedServer(Script(default=Reply.text("pong from the model", prompt_tokens=7, completion_tokens=4))) as model:
        gateway, access = gateway_for(model.base_url)
        env = {**access.sandbox_env(), **agents.agent_env()}
        with DockerSandbox(agents_image, llm_socket=access.socket_path, env=env) as sb:
            sb.exec(["bash", "-c", "pkill -9 -f loopback; kill -9 -1"])  # the sandbox user cannot end the relay
            ran = sb.exec(["python3", "-c", CLIENTS], timeout=120)
        gateway.flush()
    [line] = [line for line in ran.output.splitlines() if line.startswith("SEEN ")]
    seen = json.loads(line.removeprefix("SEEN "))
    assert seen == {"sdk": "pong from the model", "sdk_stream": "pong from the model", "litellm": "pong from the model",
                    "litellm_stream": "pong from the model", "wrong_token": 401, "8.8.8.8:53": "unreachable",
                    "172.17.0.1:2375": "unreachable", "127.0.0.1:8000": "unreachable"}, ran.output
    assert len(model.chat_requests) == 4  # the 401 never reached the model
    assert all(r.get("model") == "scripted" and "stream" not in r for r in model.chat_requests)
    calls = archive.repo.llm_calls()
    assert len(calls) == 4 and sum(c.prompt_tokens for c in calls) == 28  # accounted like any agent's calls
    assert gateway.refused_calls["token_unknown"] == 1


def _bash(command: str) -> Reply:
    return Reply.text(f"THOUGHT: next step.\n\n```mswea_bash_command\n{command}\n```", prompt_tokens=50,
                      completion_tokens=10)


SUBMIT = _bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mini_swe_agent_fixes_a_planted_bug_behind_the_contract(agents_image: str, buggy_repo: Path, gateway_for,
                                                                tmp_path: Path) -> None:
    from evaluator.agents import resolve_agent

    spec = resolve_agent("mini-swe-agent", workdir=tmp_path / "code")
    assert spec.needs_agents_image and (spec.code_root / "agent" / "__main__.py").is_file()
    script = [_bash("cat calc.py"), Reply.text("I will fix it now, no block here.", prompt_tokens=50, completion_tokens=10),
              _bash("sed -i 's/a - b/a + b/' calc.py"), SUBMIT]
    with ScriptedServer(script) as model:
        gateway, access = gateway_for(model.base_url)
        run = run_agent(spec.code_root, buggy_repo, "add() subtracts instead of adding", access, image=agents_image,
                        agent_limits=AgentLimits(max_steps=10, seconds=180), extra_env=agents.agent_env())
        gateway.flush()
    assert run.summary["status"] == "finished", run.output
    assert "-    return a - b\n+    return a + b" in run.patch
    assert run.summary["steps"] == 4 and run.summary["prompt_tokens"] == 200  # the format error is a step
    messages = [json.loads(line) for line in run.files["trajectory.jsonl"].splitlines()]
    assert messages[0]["role"] == "system" and "add() subtracts" in messages[1]["content"]
    assert any("Please always provide EXACTLY ONE action" in str(m.get("content")) for m in messages)
    assert len(model.chat_requests) == 4
    assert model.chat_requests[0]["max_tokens"] == AgentLimits().max_answer_tokens


def test_clade_eval_runs_mini_swe_agent_on_the_small_set(clade_home: CladeHome, agents_image: str, scripted_model,
                                                         tmp_path: Path) -> None:
    """`clade eval --agent mini-swe-agent`: each task's patch, trajectory, steps and tokens recorded, graded by the
    same grader (the scripted model submits at once: no change, so nothing is resolved)."""
    from tests.evaluator.test_cli_eval import clade

    server, access = scripted_model(Script(default=SUBMIT))
    out = tmp_path / "report"
    result = clade("eval", "--agent", "mini-swe-agent", "--subset", "small", "--workers", "2", "--max-steps", "3",
                   "--max-answer-tokens", "77", "--llm-socket", access.socket_path, "--model", "scripted", "--json",
                   "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.chat_requests) == 10 and {r["max_tokens"] for r in server.chat_requests} == {77}
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["agent"] == "mini-swe-agent" and report["summary"]["tasks"] == 10
    for task in report["tasks"]:
        assert task["outcome"] == "unresolved" and task["agent_status"] == "finished", task
        assert task["prompt_tokens"] == 50 and task["empty_patch"]
        summary = json.loads((Path(task["log_dir"]) / "summary.json").read_text())
        assert summary["agent"] == "mini-swe-agent" and summary["steps"] == 1
        assert (Path(task["log_dir"]) / "trajectory.jsonl").read_text().count('"role": "exit"') == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mini_swe_agent_with_the_real_local_model(agents_image: str, buggy_repo: Path, gateway_for, local_model,
                                                  archive, tmp_path: Path) -> None:
    """The real local model (vLLM) through the gateway and the loopback endpoint: litellm's calls are
    answered, counted and recorded; the contract's outputs are written whatever the small model does."""
    from evaluator.agents import resolve_agent
    from llm.config import LOCAL_MODEL_NAME

    spec = resolve_agent("mini-swe-agent", workdir=tmp_path / "code")
    gateway, access = gateway_for(local_model.api_base, f"hosted_vllm/{LOCAL_MODEL_NAME}")
    run = run_agent(spec.code_root, buggy_repo, "The function add in calc.py subtracts. Fix it.", access,
                    image=agents_image, extra_env=agents.agent_env(),
                    agent_limits=AgentLimits(max_steps=3, max_tokens=30_000, seconds=300, max_answer_tokens=128))
    gateway.flush()
    assert set(run.files) == {"patch.diff", "trajectory.jsonl", "summary.json"}, run.output
    assert run.summary["steps"] >= 1 and run.summary["prompt_tokens"] > 0, run.summary
    calls = [c for c in archive.repo.llm_calls() if c.purpose == "solve" and c.error is None]
    assert calls and sum(c.prompt_tokens for c in calls) == run.summary["prompt_tokens"]
