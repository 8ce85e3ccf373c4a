"""The agent contract: how the platform calls an agent, and what it reads back.

An agent codebase is a black box that evolves; this module is the one
place that says what stays fixed around it (DESIGN.md, "The agent
contract"). The evaluator's runs, the validation of a child and the run
configuration's defaults all read it from here:

    python -m agent --problem FILE --repo DIR --out DIR [--self-improve]

* in: the problem file, a git repository, an output folder; the model
  through the gateway (`ModelAccess`: three environment variables, and the
  same grant as `OPENAI_BASE_URL` / `OPENAI_API_KEY` on the sandbox's loopback); limits
  as `CLADE_AGENT_*` variables (`AgentLimits`), which an evolved agent may
  ignore — the sandbox's wall clock still bounds it;
* out: `OUTPUTS` in the output folder.

The seed agent (`agent/`) cannot import this (it imports nothing of the
platform); tests/agent checks that its own defaults equal these.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from sandbox.errors import SandboxError, SandboxFileNotFound
from sandbox.loopback import LOOPBACK_BASE_URL
from sandbox.recipe import LLM_SOCKET_PATH

if TYPE_CHECKING:
    from sandbox.base import Sandbox

# Where things are inside the sandbox an agent runs in.
RUNNER_DIR = "/workspace/runner"  # the agent that runs (a copy: it must not edit itself live)
REPO_DIR = "/workspace/repo"
OUT_DIR = "/workspace/out"
PROBLEM_FILE = "/workspace/problem.md"

OUTPUTS = ("patch.diff", "trajectory.jsonl", "summary.json")
# The most of each the platform reads back (checked inside the sandbox before a byte is
# copied; sparse files are refused whatever their size): an agent's claim, bounded.
OUTPUT_CAPS = {"patch.diff": 16 * 2**20, "trajectory.jsonl": 32 * 2**20, "summary.json": 2**20}

BASE_URL_ENV, MODEL_ENV, TOKEN_ENV = "CLADE_LLM_BASE_URL", "CLADE_MODEL", "CLADE_LLM_TOKEN"
# HTTP over the Unix socket the sandbox mounts (llm.uds speaks the same scheme; a test keeps them equal).
SANDBOX_BASE_URL = f"http+unix://{urllib.parse.quote(LLM_SOCKET_PATH, safe='')}/v1"

# An agent is told to stop this much before its wall clock, to leave time to write its outputs.
WRAP_UP_SECONDS = 30


def agent_argv(problem: str = PROBLEM_FILE, repo: str = REPO_DIR, out: str = OUT_DIR, *,
               self_improve: bool = False) -> list[str]:
    """The one command line an agent is started with."""
    argv = ["python3", "-m", "agent", "--problem", problem, "--repo", repo, "--out", out]
    return [*argv, "--self-improve"] if self_improve else argv


def read_outputs(sb: Sandbox, out_dir: str = OUT_DIR) -> tuple[dict[str, bytes], dict[str, str]]:
    """(written, refused): the output files the agent wrote, each within its cap
    (`OUTPUT_CAPS`), and why any other was not read (too large, sparse, not a
    regular file). One it did not write at all is in neither."""
    written: dict[str, bytes] = {}
    refused: dict[str, str] = {}
    for name in OUTPUTS:
        try:
            written[name] = sb.read_file(f"{out_dir}/{name}", max_bytes=OUTPUT_CAPS[name])
        except SandboxFileNotFound:
            continue
        except SandboxError as exc:  # too large, sparse, a link or a folder: not read, and said why
            refused[name] = str(exc)
    return written, refused


@dataclass(frozen=True)
class AgentLimits:
    """What one agent run may use. These defaults are the platform's only
    ones: the run configuration's `agent` and `timeouts.agent_seconds`
    default to them, and the seed agent's own match them."""

    max_steps: int = 30
    max_tokens: int = 200_000
    seconds: float = 600.0  # the sandbox's wall clock for the whole run
    max_answer_tokens: int = 1024

    def env(self) -> dict[str, str]:
        # Variables, not flags: the contract has no limit flags, and an evolved
        # agent that dropped them must still start.
        return {"CLADE_AGENT_MAX_STEPS": str(self.max_steps), "CLADE_AGENT_MAX_TOKENS": str(self.max_tokens),
                "CLADE_AGENT_MAX_SECONDS": str(self.agent_seconds),
                "CLADE_AGENT_MAX_ANSWER_TOKENS": str(self.max_answer_tokens)}

    @property
    def agent_seconds(self) -> int:
        """The time the agent is told it has (the wall clock less the wrap-up)."""
        return max(1, int(self.seconds - WRAP_UP_SECONDS))


@dataclass(frozen=True)
class ModelAccess:
    """How a sandboxed agent reaches the model: the gateway's socket on the
    host (mounted into the sandbox), the backend name to ask for, and a
    token that accounts every call to one unit of work."""

    socket_path: str
    model: str
    token: str

    def sandbox_env(self) -> dict[str, str]:
        """Clade's own variables, and the ones the openai SDK and litellm read, for the same grant
        through the sandbox's loopback endpoint (an agent on litellm names the model `openai/MODEL`)."""
        return {BASE_URL_ENV: SANDBOX_BASE_URL, MODEL_ENV: self.model, TOKEN_ENV: self.token,
                "OPENAI_BASE_URL": LOOPBACK_BASE_URL, "OPENAI_API_BASE": LOOPBACK_BASE_URL,
                # a model server reached straight (no gateway, no token) still needs a key the SDKs accept
                "OPENAI_API_KEY": self.token or "no-token"}

    def at(self, socket_path: str) -> ModelAccess:
        """The same grant through another socket (a Ray worker's relay to the gateway)."""
        return replace(self, socket_path=socket_path)


class AccessIssuer(Protocol):
    """Model access issued per evaluation, ended when the agent is done
    (`evolve.model_access.GatewayIssuer` is the gateway's)."""

    def issue(self, *, node_id: int | None, evaluation_id: int | None) -> ModelAccess: ...

    def revoke(self, access: ModelAccess) -> None: ...
