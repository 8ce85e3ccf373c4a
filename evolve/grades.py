"""How the search reads an evaluation row: success or failure, and the
evidence of a grade the grader refused.

Only `resolved` is a success. Every other finished outcome — unresolved,
error, timeout and `tampered` (the grader caught the code under test forging
its grade) — is a failure, for every policy, staged-evaluation threshold,
entry selection and the final-agent rule. That reading lives here, in one
place, so that an outcome added later is a failure by default and can never
pass for a success, nor be dropped from the counts (which would reward a
cheating agent with a smaller denominator).

`details` come from the evaluator (`TaskResult.details()`), but the parts
that describe a forgery quote what the code under test did: they are read
defensively and bounded before anyone shows them to a model or a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archive.models import Evaluation, Node, NodeStatus, Outcome
from evolve.entry import TaskRecord
from evolve.state import Kind, NodeRow, TreeState

MAX_EVIDENCE_CHARS = 4000
MAX_SET_ASIDE = 200


def resolved(outcome: Outcome | str | None) -> bool | None:
    """True for a success, False for any failure (tampered included), None while it runs."""
    if outcome is None:
        return None
    return Outcome(outcome) is Outcome.RESOLVED


def is_tampered(outcome: Outcome | str | None) -> bool:
    return outcome is not None and Outcome(outcome) is Outcome.TAMPERED


def _text(value: Any, limit: int = MAX_EVIDENCE_CHARS) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} characters cut]"


@dataclass(frozen=True)
class GradeEvidence:
    """Why a grade was refused, and what of the patch the grader did not use.

    `rule` is the check that caught the forgery (a canary, the exit status,
    the report), `detail` what it saw; `set_aside` are files of the task's
    test set-up the patch changed (the tests ran with the task's own).
    """

    rule: str | None = None
    detail: str | None = None
    set_aside: tuple[str, ...] = field(default_factory=tuple)
    set_aside_more: int = 0  # files beyond MAX_SET_ASIDE, left out

    @property
    def tampering(self) -> dict[str, str] | None:
        if self.rule is None and self.detail is None:
            return None
        return {"rule": self.rule or "", "detail": self.detail or ""}

    @classmethod
    def from_details(cls, details: Mapping[str, Any] | None) -> "GradeEvidence":
        details = details if isinstance(details, Mapping) else {}
        tampering = details.get("tampering")
        rule = detail = None
        if isinstance(tampering, Mapping):
            rule = _text(tampering.get("rule"), 200) or "unnamed check"
            detail = _text(tampering.get("detail"))
        elif tampering:  # an unexpected shape: keep it readable rather than lose it
            rule, detail = "unnamed check", _text(tampering)
        listed = details.get("set_aside")
        files = [_text(f, 300) for f in listed if isinstance(f, str)] if isinstance(listed, (list, tuple)) else []
        return cls(rule, detail, tuple(files[:MAX_SET_ASIDE]), max(len(files) - MAX_SET_ASIDE, 0))


def task_record(evaluation: Evaluation) -> TaskRecord:
    """A finished evaluation as entry selection sees it."""
    details = evaluation.details or {}
    return TaskRecord(evaluation.id, evaluation.task_id, bool(resolved(evaluation.outcome)),
                      bool(details.get("empty_patch")), bool(details.get("context_overflow")),
                      tampered=is_tampered(evaluation.outcome))


def node_kind(node: Node) -> Kind:
    """What a node row is to the search: a child with a patch that failed validation
    still has its code (HGM evaluates such a child); one without a commit left none."""
    if node.status == NodeStatus.VALID:
        return Kind.VALID
    if node.status in (NodeStatus.PROPOSED, NodeStatus.BUILDING):
        return Kind.BUILDING
    return Kind.BROKEN if node.commit is not None and node.parent_id is not None else Kind.FAILED


def tree_state(tasks: Sequence[str], nodes: Iterable[NodeRow], evaluations: Iterable[Evaluation], *,
               pooled_failures: int = 0) -> TreeState:
    """The search's counts rebuilt from archive rows (evaluations of other
    tasks, e.g. held-out ones, are left out: the search never sees them)."""
    known = set(tasks)
    rows = [(e.node_id, e.task_id, resolved(e.outcome)) for e in evaluations if e.task_id in known]
    return TreeState.from_rows(list(tasks), nodes, rows, pooled_failures=pooled_failures)


def success_counts(outcomes: Iterable[Outcome | str | None]) -> tuple[int, int]:
    """(resolved, finished) among outcomes; pending ones (None) are not counted."""
    flags = [r for r in (resolved(o) for o in outcomes) if r is not None]
    return sum(flags), len(flags)
