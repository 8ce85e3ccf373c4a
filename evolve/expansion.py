"""The self-improvement step, as a worker runs it: diagnose the entry, let
the parent agent change its own code, validate the child.

It runs anywhere (evolve.units: everything it needs is in the unit) and
never touches the archive: the driver records the `ExpandResult`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

from archive.code_limits import UnsafeCode, check_folder
from archive.git import run_git
from evaluator.agent_run import run_agent
from evaluator.contract import ModelAccess
from evolve.diagnosis import (RESPONSE_FORMAT, Attempt, Chat, DiagnosisFailed, build_messages, diagnose,
                              self_improve_task)
from evolve.units import ExpandResult, ExpandUnit, check_version, unpack_code
from evolve.validation import validate_agent


def gateway_chat(access: ModelAccess, max_tokens: int, timeout: float = 600.0,
                 response_format: dict | None = None) -> Chat:
    """A `Chat` over the gateway's socket; HTTP errors become DiagnosisFailed. With
    `response_format`, answers are asked to follow it; a backend that answers 400 to
    it is asked again without it, and not asked with it again."""
    from llm.uds import http_client, unix_base_url

    wanted = {"response_format": response_format} if response_format else {}

    def chat(messages: list[dict[str, str]]) -> str:
        body = {"model": access.model, "messages": messages, "max_tokens": max_tokens}
        with http_client(unix_base_url(access.socket_path), timeout=timeout,
                         headers={"Authorization": f"Bearer {access.token}"}) as client:
            response = client.post("/chat/completions", json={**body, **wanted})
            if response.status_code == 400 and wanted:  # no structured output here: parse the text
                wanted.clear()
                response = client.post("/chat/completions", json=body)
        if response.status_code != 200:
            raise DiagnosisFailed(f"the diagnosis model answered HTTP {response.status_code}: {response.text[:300]}")
        return response.json()["choices"][0]["message"].get("content") or ""

    return chat


def run_expansion(unit: ExpandUnit, chat: Chat | None = None) -> ExpandResult:
    """Diagnose the entry, let the parent agent modify its own code, validate the child."""
    check_version(unit)
    started = time.monotonic()
    logs: dict[str, str] = {}

    def done(ok: bool, stage: str, reason: str, patch: str = "", proposal: dict | None = None) -> ExpandResult:
        return ExpandResult(unit.node_id, ok, stage, reason, patch, proposal, logs, time.monotonic() - started)

    with tempfile.TemporaryDirectory(prefix="clade-expand-") as tmp:
        parent = unpack_code(unit.parent_code, Path(tmp) / "parent")
        chat = chat or gateway_chat(unit.diagnosis, unit.diagnosis_max_tokens, response_format=RESPONSE_FORMAT)
        prompts_dir = Path(unit.prompts_dir) if unit.prompts_dir else None
        messages = build_messages(unit.entry, unit.material, parent, unit.diagnosis_max_chars, prompts_dir)
        logs["diagnosis_prompt.json"] = json.dumps(messages, indent=1)
        answers: list[Attempt] = []
        failure = None
        try:
            proposal = diagnose(chat, messages, record=answers)
        except DiagnosisFailed as exc:
            failure = str(exc)
        except Exception as exc:  # noqa: BLE001 - an unreachable gateway must not kill the run
            failure = f"the diagnosis call failed: {type(exc).__name__}: {exc}"
        # What was asked and answered, kept for the node's page and for whoever reads a failure.
        logs["diagnosis_answers.json"] = json.dumps([dataclasses.asdict(a) for a in answers], indent=1)
        if failure is not None:
            return done(False, "diagnosis", failure)
        proposal_data = proposal.model_dump()
        logs["proposal.json"] = proposal.model_dump_json(indent=2)

        # The parent works on a git checkout of its own code.
        own_code = Path(tmp) / "self"
        shutil.copytree(parent, own_code)
        run_git(own_code, "init", "-q")
        run_git(own_code, "add", "-A")
        run_git(own_code, "commit", "-qm", "parent")
        image, env = _agent_runtime(unit)
        run = run_agent(parent, own_code, self_improve_task(proposal, prompts_dir), unit.self_improve,
                        self_improve=True, limits=unit.limits, agent_limits=unit.agent_limits, image=image,
                        extra_env=env)
        logs.update({f"self_improve_{name}": text for name, text in run.files.items()})
        logs["self_improve_output.txt"] = run.output
        if not run.patch.strip():
            status = run.summary.get("status") or ("timed out" if run.timed_out else f"exit {run.exit_code}")
            return done(False, "self_improve", f"the parent agent changed nothing (its run ended: {status})",
                        proposal=proposal_data)

        child = Path(tmp) / "child"
        shutil.copytree(parent, child)
        run_git(child, "init", "-q")
        applied = run_git(child, "apply", "--whitespace=nowarn", "-", input=run.patch, check=False)
        if applied.returncode != 0:
            return done(False, "patch", f"the patch does not apply to the parent: {applied.stderr.strip()[:300]}",
                        run.patch, proposal_data)
        shutil.rmtree(child / ".git")
        try:  # at the door: a child that would break the code store's limits is never validated
            check_folder(child, unit.code_limits)
        except UnsafeCode as exc:
            return done(False, "patch", str(exc), run.patch, proposal_data)
        if not (child / "agent").is_dir():
            return done(False, "contract", "the child has no agent/ package", run.patch, proposal_data)
        result = validate_agent(child, unit.limits, unit.validation_seconds, image=image, env=env)
        logs["validation.log"] = result.log
        return done(result.ok, result.stage, result.reason, run.patch, proposal_data)


def _agent_runtime(unit: ExpandUnit) -> tuple[str | None, dict[str, str]]:
    """The image and the extra environment the parent and its child run with: the sandbox image,
    or, in a run seeded with mini-swe-agent, the agents image (evaluator/agents_image.py)."""
    if not unit.in_agents_image:
        return None, {}
    from evaluator import agents_image

    return agents_image.runtime()
