"""The diagnosis: an LLM reads the parent's code and one failed attempt and
proposes one improvement, as validated JSON.

Prompts are files in `evolve/prompts/` (or a folder the run config names),
`$placeholders` filled with string.Template, so a user can read and change
them without touching code. The request asks for the proposal's JSON schema
as structured output (`RESPONSE_FORMAT`): vLLM and most hosted providers then
constrain the answer to it, which a small local model needs; a backend that
refuses the option is asked again without it, and the text is parsed. A
malformed answer is retried with the parse error shown to the model; after
the last try the expansion fails with that reason on record. Every answer
and its problem are kept (`Attempt`), so a failed diagnosis can be read.

When the grader refused the entry's grade (outcome `tampered`), or set aside
files of the task's test set-up that the patch changed, the prompt says so
with the evidence (`$integrity`, from `grade_tampered.md` and
`grade_set_aside.md`): the model must learn that the failure is the forgery
itself, not a test it nearly passed. A user's `diagnosis_user.md` written
before that placeholder existed still gets the note, appended.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from pydantic import BaseModel, Field, ValidationError

from archive.errors import CladeError
from evolve.entry import Entry

PROMPTS_DIR = Path(__file__).with_name("prompts")
Chat = Callable[[list[dict[str, str]]], str]  # messages -> the model's text


class DiagnosisFailed(CladeError):
    """No usable proposal came back."""


class Proposal(BaseModel):
    log_summary: str = Field(min_length=1)
    potential_improvements: list[str] | str = Field(default_factory=list)
    improvement_proposal: str = Field(min_length=5)
    implementation_suggestion: str = Field(min_length=1)
    problem_description: str = Field(min_length=10)


# What the model is asked to produce: the proposal's fields, all required, as
# OpenAI's `response_format` (litellm passes it on; vLLM enforces it).
_TEXT = {"type": "string", "minLength": 1}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "improvement_proposal",
        "schema": {
            "type": "object",
            "properties": {
                "log_summary": _TEXT,
                "potential_improvements": {"type": "array", "items": _TEXT},
                "improvement_proposal": _TEXT,
                "implementation_suggestion": _TEXT,
                "problem_description": _TEXT,
            },
            "required": ["log_summary", "potential_improvements", "improvement_proposal",
                         "implementation_suggestion", "problem_description"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class Attempt:
    """One answer of the diagnosis model and why it could not be used (None: it could)."""

    answer: str
    problem: str | None


@dataclass
class EntryMaterial:
    """What the diagnosis model is shown about the entry."""

    task_id: str
    problem_statement: str
    trajectory: str
    patch: str
    outcome: str
    test_output: str
    # The grade's integrity (evolve.grades.GradeEvidence): the check that
    # caught a forgery and what it saw, and test set-up files set aside.
    tampering: dict[str, str] | None = None
    set_aside: list[str] = field(default_factory=list)


def prompt(name: str, prompts_dir: Path | None = None) -> str:
    folder = prompts_dir or PROMPTS_DIR
    path = folder / name
    if not path.is_file():
        path = PROMPTS_DIR / name  # a user's folder may override only some prompts
    return path.read_text()


def clip(text: str, limit: int, keep: str = "tail") -> str:
    if len(text) <= limit:
        return text
    cut = f"\n[... {len(text) - limit} characters cut ...]\n"
    return cut + text[-limit:] if keep == "tail" else text[:limit] + cut


def agent_code_listing(code_root: Path, limit: int) -> str:
    """The agent's own source (tests left out), file by file, within `limit` characters."""
    parts = []
    for path in sorted((code_root / "agent").rglob("*.py")):
        rel = path.relative_to(code_root)
        if "tests" in rel.parts or "__pycache__" in rel.parts:
            continue
        parts.append(f"## {rel}\n```python\n{path.read_text(errors='replace')}\n```")
    return clip("\n\n".join(parts), limit, keep="head")


MAX_SET_ASIDE_LISTED = 30


def integrity_note(material: EntryMaterial, limit: int, prompts_dir: Path | None = None) -> str:
    """What the grader refused or left out, for the model; empty when the grade stood as it was."""
    parts = []
    if material.tampering is not None:
        parts.append(Template(prompt("grade_tampered.md", prompts_dir)).safe_substitute(
            rule=clip(material.tampering.get("rule", "") or "unnamed check", 200, keep="head"),
            detail=clip(material.tampering.get("detail", "") or "(no detail recorded)", limit, keep="head"),
        ))
    if material.set_aside:
        listed = material.set_aside[:MAX_SET_ASIDE_LISTED]
        more = len(material.set_aside) - len(listed)
        files = "\n".join(f"- {path}" for path in listed) + (f"\n- ... and {more} more" if more else "")
        parts.append(Template(prompt("grade_set_aside.md", prompts_dir)).safe_substitute(files=files))
    return "\n".join(part.strip() + "\n" for part in parts)


def build_messages(
    entry: Entry, material: EntryMaterial, code_root: Path, max_chars: int, prompts_dir: Path | None = None
) -> list[dict[str, str]]:
    share = max_chars // 8
    focus = "" if entry.kind == "task" else prompt(f"focus_{entry.kind}.md", prompts_dir)
    template = prompt("diagnosis_user.md", prompts_dir)
    integrity = integrity_note(material, share // 4, prompts_dir)
    user = Template(template).safe_substitute(
        agent_code=agent_code_listing(code_root, 4 * share),
        task_id=material.task_id,
        problem_statement=clip(material.problem_statement, share, keep="head"),
        trajectory=clip(material.trajectory, 2 * share),
        patch=clip(material.patch or "(empty: no change)", share // 2, keep="head"),
        outcome=material.outcome,
        test_output=clip(material.test_output, share // 2),
        focus=focus,
        integrity=integrity,
    )
    if integrity and "$integrity" not in template and "${integrity}" not in template:
        user += "\n" + integrity  # an older custom template: the model must still be told
    return [{"role": "system", "content": prompt("diagnosis_system.md", prompts_dir)}, {"role": "user", "content": user}]


_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def parse_proposal(text: str) -> Proposal:
    """The JSON object in the answer (fenced or bare), validated."""
    match = _FENCED.search(text)
    raw = match.group(1) if match else text[text.find("{") : text.rfind("}") + 1]
    if not raw:
        raise ValueError("the answer holds no JSON object")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the JSON does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON must be an object")
    try:
        return Proposal.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"the JSON object is missing or has wrong fields ({fields})") from None


def diagnose(chat: Chat, messages: list[dict[str, str]], attempts: int = 3,
             record: list[Attempt] | None = None) -> Proposal:
    """The first usable proposal in `attempts` answers; each answer is appended to `record`."""
    conversation = list(messages)
    problem = "no answer"
    record = [] if record is None else record
    for _ in range(attempts):
        answer = chat(conversation)
        try:
            proposal = parse_proposal(answer)
            record.append(Attempt(answer, None))
            return proposal
        except ValueError as exc:
            problem = str(exc)
            record.append(Attempt(answer, problem))
            conversation += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": f"That answer could not be used: {problem}. "
                 "Answer again with one ```json block holding all five fields."},
            ]
    raise DiagnosisFailed(f"diagnosis gave no valid proposal in {attempts} tries (last problem: {problem})")


def self_improve_task(proposal: Proposal, prompts_dir: Path | None = None) -> str:
    """The problem statement the parent agent gets for working on its own code."""
    return Template(prompt("self_improve_task.md", prompts_dir)).safe_substitute(
        problem_description=proposal.problem_description,
        improvement_proposal=proposal.improvement_proposal,
        implementation_suggestion=proposal.implementation_suggestion,
    )
