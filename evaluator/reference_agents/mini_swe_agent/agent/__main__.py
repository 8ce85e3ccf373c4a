"""mini-swe-agent behind Clade's agent contract.

    python -m agent --problem FILE --repo DIR --out DIR [--self-improve]

Runs mini-swe-agent's own `DefaultAgent` with its own text-based
configuration (`mini_textbased.yaml`: one bash block per answer, which any
chat model can follow, tool calling or not), its `LocalEnvironment` in the
repository, and its litellm model pointed at the sandbox's loopback
endpoint (`OPENAI_BASE_URL`, `OPENAI_API_KEY`: the gateway, with this
run's token). Clade's limits become mini-swe-agent's own (`step_limit`,
`wall_time_limit_seconds`; the budget is the gateway's). Then it writes
what the contract asks: the repository's changes as `patch.diff`, every
message as `trajectory.jsonl`, and `summary.json`.

Where mini-swe-agent lives: the copy inside this package if there is one
(`agent/minisweagent/`, the seed that evolution edits), else the one
installed in the agents image.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if (HERE / "minisweagent").is_dir():
    sys.path.insert(0, str(HERE))  # the vendored copy before the installed one

import yaml  # noqa: E402
from minisweagent import __version__, package_dir  # noqa: E402
from minisweagent.agents.default import DefaultAgent  # noqa: E402
from minisweagent.environments.local import LocalEnvironment  # noqa: E402
from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel  # noqa: E402

SELF_IMPROVE = ("\n\nThe repository is the code of a coding agent (mini-swe-agent behind a contract entry point, "
                "`python -m agent`). Improve it as the problem asks; keep `python -m agent --problem FILE --repo DIR "
                "--out DIR` working and writing patch.diff, trajectory.jsonl and summary.json.")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _tool_path() -> str:
    """PATH for the agent's commands: the task's tools, not this agent's own interpreter."""
    own = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != own)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m agent", description="mini-swe-agent behind Clade's contract")
    parser.add_argument("--problem", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--self-improve", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    config = yaml.safe_load((Path(package_dir) / "config" / "mini_textbased.yaml").read_text())
    agent_config = {**config["agent"], "step_limit": int(os.environ.get("CLADE_AGENT_MAX_STEPS", "30")),
                    "cost_limit": 0, "wall_time_limit_seconds": int(os.environ.get("CLADE_AGENT_MAX_SECONDS", "570"))}
    model_config = {**config.get("model", {}), "model_name": "openai/" + os.environ.get("CLADE_MODEL", "local"),
                    "cost_tracking": "ignore_errors"}
    model_config["model_kwargs"] = {**model_config.get("model_kwargs", {}), "api_base": os.environ["OPENAI_BASE_URL"],
                                    "api_key": os.environ["OPENAI_API_KEY"],
                                    "max_tokens": int(os.environ.get("CLADE_AGENT_MAX_ANSWER_TOKENS", "1024"))}
    environment = LocalEnvironment(cwd=str(args.repo), timeout=120,
                                   env={**config.get("environment", {}).get("env", {}), "PATH": _tool_path()})
    agent = DefaultAgent(LitellmTextbasedModel(**model_config), environment, **agent_config)

    problem = args.problem.read_text() + (SELF_IMPROVE if args.self_improve else "")
    start_commit = _git(args.repo, "rev-parse", "HEAD").strip()
    started, status, error = time.monotonic(), "error", None
    try:
        status = str(agent.run(problem).get("exit_status") or "finished")
    except Exception as exc:  # noqa: BLE001 - the patch so far and the log still count
        error = f"{type(exc).__name__}: {exc}"
    _git(args.repo, "add", "--all")
    patch = _git(args.repo, "diff", "--cached", "--binary", start_commit)
    (args.out / "patch.diff").write_text(patch)
    with (args.out / "trajectory.jsonl").open("w") as trajectory:
        for message in agent.messages:
            trajectory.write(json.dumps({"kind": "message", **_plain(message)}, default=str) + "\n")
    # every answer the model gave, a badly formatted one included (it is kept beside the format error)
    usage = [m["extra"]["response"].get("usage") or {} for m in agent.messages
             if isinstance((m.get("extra") or {}).get("response"), dict)]
    summary = {"status": "finished" if status == "Submitted" else status, "error": error, "agent": "mini-swe-agent",
               "mini_swe_agent_version": __version__, "exit_status": status, "steps": agent.n_calls,
               "model": model_config["model_name"],
               "prompt_tokens": sum(int(u.get("prompt_tokens") or 0) for u in usage),
               "completion_tokens": sum(int(u.get("completion_tokens") or 0) for u in usage),
               "elapsed_s": round(time.monotonic() - started, 2), "patch_bytes": len(patch.encode()),
               "mode": "self-improve" if args.self_improve else "solve"}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def _plain(message: dict) -> dict:
    """A message without the raw response (its text is the message's own content)."""
    extra = {k: v for k, v in (message.get("extra") or {}).items() if k != "response"}
    return {**{k: v for k, v in message.items() if k != "extra"}, **({"extra": extra} if extra else {})}


if __name__ == "__main__":
    sys.exit(main())
