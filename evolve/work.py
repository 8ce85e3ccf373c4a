"""The two kinds of work a run is made of, as self-contained units.

A unit carries everything its worker needs (the code as a tarball, the
task, the gateway's address and tokens) and a result carries everything the
driver records; workers never touch the archive. That is what lets the same
units run on a local thread pool or on another machine.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluator.agent_run import AgentLimits, ModelAccess, run_agent
from evolve.diagnosis import Chat, DiagnosisFailed, EntryMaterial, build_messages, diagnose, self_improve_task
from evolve.entry import Entry
from evolve.validation import validate_agent
from sandbox.limits import SandboxLimits


def pack_code(code_root: Path) -> bytes:
    """A code root (the folder holding `agent/`) as gzipped tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(code_root.iterdir()):
            tar.add(path, arcname=path.name, filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


def unpack_code(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def _git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=clade", "-c", "user.email=clade@localhost", *args],
        cwd=repo, input=stdin, capture_output=True, text=True,
    )


@dataclass
class GatewayAccess:
    """For calls made by the worker itself (the diagnosis) and by its sandboxes."""

    socket_path: str
    diagnosis_model: str
    diagnosis_token: str
    self_improve: ModelAccess
    diagnosis_max_tokens: int = 1536


@dataclass
class ExpandUnit:
    run_id: int
    node_id: int
    parent_id: int
    parent_code: bytes
    entry: Entry
    material: EntryMaterial
    gateway: GatewayAccess
    limits: SandboxLimits
    agent_limits: AgentLimits
    validation_seconds: float
    diagnosis_max_chars: int
    prompts_dir: str | None = None


@dataclass
class ExpandResult:
    node_id: int
    ok: bool
    stage: str  # where it ended: diagnosis, self_improve, patch, compile, tests, contract, passed
    reason: str
    patch: str = ""
    proposal: dict[str, Any] | None = None
    logs: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0


def gateway_chat(socket_path: str, model: str, token: str, max_tokens: int, timeout: float = 600.0) -> Chat:
    """A `Chat` over the gateway's socket; HTTP errors become DiagnosisFailed."""
    from llm.uds import http_client, unix_base_url

    def chat(messages: list[dict[str, str]]) -> str:
        with http_client(unix_base_url(socket_path), timeout=timeout,
                         headers={"Authorization": f"Bearer {token}"}) as client:
            response = client.post("/chat/completions",
                                   json={"model": model, "messages": messages, "max_tokens": max_tokens})
        if response.status_code != 200:
            raise DiagnosisFailed(f"the diagnosis model answered HTTP {response.status_code}: {response.text[:300]}")
        return response.json()["choices"][0]["message"].get("content") or ""

    return chat


def run_expansion(unit: ExpandUnit, chat: Chat | None = None) -> ExpandResult:
    """Diagnose the entry, let the parent agent modify its own code, validate the child."""
    started = time.monotonic()
    logs: dict[str, str] = {}

    def done(ok: bool, stage: str, reason: str, patch: str = "", proposal: dict | None = None) -> ExpandResult:
        return ExpandResult(unit.node_id, ok, stage, reason, patch, proposal, logs, time.monotonic() - started)

    with tempfile.TemporaryDirectory(prefix="clade-expand-") as tmp:
        parent = unpack_code(unit.parent_code, Path(tmp) / "parent")
        access = unit.gateway
        chat = chat or gateway_chat(access.socket_path, access.diagnosis_model, access.diagnosis_token,
                                    access.diagnosis_max_tokens)
        prompts_dir = Path(unit.prompts_dir) if unit.prompts_dir else None
        messages = build_messages(unit.entry, unit.material, parent, unit.diagnosis_max_chars, prompts_dir)
        try:
            proposal = diagnose(chat, messages)
        except DiagnosisFailed as exc:
            return done(False, "diagnosis", str(exc))
        except Exception as exc:  # noqa: BLE001 - an unreachable gateway must not kill the run
            return done(False, "diagnosis", f"the diagnosis call failed: {type(exc).__name__}: {exc}")
        proposal_data = proposal.model_dump()
        logs["proposal.json"] = proposal.model_dump_json(indent=2)

        # The parent works on a git checkout of its own code.
        own_code = Path(tmp) / "self"
        shutil.copytree(parent, own_code)
        _git(own_code, "init", "-q")
        _git(own_code, "add", "-A")
        _git(own_code, "commit", "-qm", "parent")
        run = run_agent(parent, own_code, self_improve_task(proposal, prompts_dir), unit.gateway.self_improve,
                        self_improve=True, limits=unit.limits, agent_limits=unit.agent_limits)
        logs.update({f"self_improve_{name}": text for name, text in run.files.items()})
        logs["self_improve_output.txt"] = run.output
        if not run.patch.strip():
            status = run.summary.get("status") or ("timed out" if run.timed_out else f"exit {run.exit_code}")
            return done(False, "self_improve", f"the parent agent changed nothing (its run ended: {status})",
                        proposal=proposal_data)

        child = Path(tmp) / "child"
        shutil.copytree(parent, child)
        _git(child, "init", "-q")
        applied = _git(child, "apply", "--whitespace=nowarn", "-", stdin=run.patch)
        if applied.returncode != 0:
            return done(False, "patch", f"the patch does not apply to the parent: {applied.stderr.strip()[:300]}",
                        run.patch, proposal_data)
        shutil.rmtree(child / ".git")
        if not (child / "agent").is_dir():
            return done(False, "contract", "the child has no agent/ package", run.patch, proposal_data)
        result = validate_agent(child, unit.limits, unit.validation_seconds)
        logs["validation.log"] = result.log
        return done(result.ok, result.stage, result.reason, run.patch, proposal_data)
