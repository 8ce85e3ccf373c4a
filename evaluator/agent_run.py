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

from evaluator.contract import OUT_DIR, PROBLEM_FILE, REPO_DIR, RUNNER_DIR, AgentLimits, ModelAccess, agent_argv, read_outputs
from sandbox.factory import open_sandbox
from sandbox.limits import SandboxLimits


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
    command = agent_argv(self_improve=self_improve)
    env = {**(extra_env or {}), **access.sandbox_env(), **agent_limits.env()}
    with open_sandbox(image, limits, model_socket=access.socket_path, env=env) as sb:
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
        written, refused = read_outputs(sb)
        files = {name: data.decode("utf-8", "replace") for name, data in written.items()}
    output = result.output + "".join(f"\n[clade: {name} not read back: {why}]" for name, why in refused.items())
    return AgentRun(result.exit_code, result.timed_out, output, result.duration, files)
