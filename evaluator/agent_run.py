"""Running an agent version in a sandbox on a git repository, with the
gateway's socket as its only way out.

Shared by the self-improvement step (the parent on its own code) and by
anything else that needs "this agent, this repository, this problem"
without grading.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.docker_sandbox import LLM_SOCKET_PATH, DockerSandbox
from sandbox.limits import SandboxLimits

RUNNER_DIR = "/workspace/runner"  # the agent that runs (a copy: it must not edit itself live)
REPO_DIR = "/workspace/repo"
OUT_DIR = "/workspace/out"
PROBLEM_FILE = "/workspace/problem.md"
OUTPUTS = ("patch.diff", "trajectory.jsonl", "summary.json")


@dataclass(frozen=True)
class ModelAccess:
    """How a sandboxed agent reaches the model: the gateway's socket on the
    host, the backend name to ask for, and a token accounted to its caller."""

    socket_path: str
    model: str
    token: str

    def sandbox_env(self) -> dict[str, str]:
        from llm.uds import unix_base_url

        return {"CLADE_LLM_BASE_URL": unix_base_url(LLM_SOCKET_PATH), "CLADE_MODEL": self.model,
                "CLADE_LLM_TOKEN": self.token}


@dataclass(frozen=True)
class AgentLimits:
    max_steps: int = 30
    max_tokens: int = 200_000
    seconds: float = 600.0
    max_answer_tokens: int = 1024

    def env(self) -> dict[str, str]:
        # Variables, not flags: the contract has no limit flags, and an evolved
        # agent that dropped them must still start.
        return {"CLADE_AGENT_MAX_STEPS": str(self.max_steps), "CLADE_AGENT_MAX_TOKENS": str(self.max_tokens),
                "CLADE_AGENT_MAX_SECONDS": str(max(1, int(self.seconds - 30))),
                "CLADE_AGENT_MAX_ANSWER_TOKENS": str(self.max_answer_tokens)}


@dataclass
class AgentRun:
    exit_code: int
    timed_out: bool
    output: str
    duration_s: float
    files: dict[str, str] = field(default_factory=dict)

    @property
    def patch(self) -> str:
        return self.files.get("patch.diff", "")

    @property
    def summary(self) -> dict:
        try:
            return json.loads(self.files.get("summary.json") or "{}")
        except ValueError:
            return {}


def run_agent(
    agent_root: Path,
    repo: Path | None,
    problem: str,
    access: ModelAccess,
    *,
    self_improve: bool = False,
    limits: SandboxLimits | None = None,
    agent_limits: AgentLimits | None = None,
    image: str | None = None,
    repo_in_image: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> AgentRun:
    """`python -m agent --problem ... --repo ... --out ...` in a fresh sandbox.

    `agent_root` holds `agent/`; `repo` is a git repository (copied in, so
    the host copy is never touched). Never raises for what the agent does.

    For a task whose repository is inside its image (SWE-bench's /testbed),
    pass `image` and `repo_in_image` instead of `repo`: the repository is
    copied to REPO_DIR inside the sandbox (the root file system is read-only).
    """
    agent_limits = agent_limits or AgentLimits()
    command = ["python3", "-m", "agent", "--problem", PROBLEM_FILE, "--repo", REPO_DIR, "--out", OUT_DIR]
    if self_improve:
        command.append("--self-improve")
    env = {**(extra_env or {}), **access.sandbox_env(), **agent_limits.env()}
    with DockerSandbox(image=image, limits=limits, llm_socket=access.socket_path, env=env) as sb:
        sb.copy_in(agent_root / "agent", f"{RUNNER_DIR}/agent")
        if repo_in_image is not None:
            copied = sb.exec(["bash", "-c", f"mkdir -p {REPO_DIR} && cp -a {shlex.quote(repo_in_image)}/. {REPO_DIR}"],
                             timeout=600)
            if not copied.ok:
                return AgentRun(copied.exit_code, False, f"copying {repo_in_image} failed: {copied.output}", 0.0)
        elif repo is not None:
            sb.copy_in(repo, REPO_DIR)
        sb.write_file(PROBLEM_FILE, problem)
        result = sb.exec(
            f"mkdir -p {OUT_DIR} && exec {shlex.join(command)}", timeout=agent_limits.seconds, workdir=RUNNER_DIR
        )
        files = {}
        for name in OUTPUTS:
            try:
                files[name] = sb.read_file(f"{OUT_DIR}/{name}").decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - a missing output is reported through `files`
                continue
    return AgentRun(result.exit_code, result.timed_out, result.output, result.duration, files)
