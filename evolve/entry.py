"""Choosing what a self-modification should fix: the "entry".

Faithful to DGM/HGM: from the parent's finished evaluations, with 25 %
chances in turn, a systemic weakness — empty patches (when at least 10 % of
its patches were empty), stochasticity, context overflow (when it was seen)
— else a task the parent failed, else any task it ran.

One addition comes first: an evaluation whose grade the grader refused
(outcome `tampered`) is always the entry while the parent has one. A
lineage that forges its grades must be told so, with the evidence, before
anything else it does is worth improving: every child it breeds would
inherit the trick and fail the same check.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

EntryKind = Literal["task", "empty_patches", "stochasticity", "context_length"]


@dataclass(frozen=True)
class TaskRecord:
    """One finished evaluation of the parent, as entry selection needs it."""

    evaluation_id: int
    task_id: str
    resolved: bool
    empty_patch: bool
    context_overflow: bool
    tampered: bool = False  # a failure whose grade was refused: the code under test forged it


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    task: TaskRecord  # the evaluation whose log the diagnosis reads

    @property
    def label(self) -> str:
        return self.task.task_id if self.kind == "task" else f"solve_{self.kind}"


def choose_entry(records: list[TaskRecord], rng: random.Random) -> Entry | None:
    if not records:
        return None
    tampered = [r for r in records if r.tampered and not r.resolved]
    if tampered:
        return Entry("task", rng.choice(tampered))
    failed = [r for r in records if not r.resolved]
    empty = [r for r in records if r.empty_patch]
    overflow = [r for r in records if r.context_overflow]
    if empty and len(empty) >= 0.1 * len(records) and rng.random() < 0.25:
        return Entry("empty_patches", rng.choice(empty))
    if rng.random() < 0.25:
        return Entry("stochasticity", rng.choice(failed or records))
    if overflow and rng.random() < 0.25:
        return Entry("context_length", rng.choice(overflow))
    if failed:
        return Entry("task", rng.choice(failed))
    return Entry("task", rng.choice(records))
