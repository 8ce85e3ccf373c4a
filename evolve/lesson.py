"""What an expansion learns from: the parent's entry and the material the
diagnosis model is shown about it.

Read from the archive on the driver (workers never touch it), and kept out
of the engine so that the choice — a refused, `tampered` grade first, with
its evidence — can be checked on a real archive without starting a run.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

from archive.models import Node
from archive.repository import ArchiveRepository
from evaluator.task import Task
from evolve.diagnosis import EntryMaterial
from evolve.entry import Entry, choose_entry
from evolve.grades import GradeEvidence, task_record

SYSTEMIC_KINDS = {"empty_patches", "stochasticity", "context_length"}


def parent_entry(repo: ArchiveRepository, node: Node, tasks: Mapping[str, Task],
                 rng: random.Random) -> tuple[Entry, EntryMaterial]:
    """The parent's failure this expansion learns from (the same one again on resume)."""
    finished = [e for e in repo.node_evaluations(node.parent_id) if e.outcome is not None]
    records = [task_record(e) for e in finished]
    entry = None
    if node.entry_task:  # resumed: the same entry as before (a refused grade of it first, as chosen)
        chosen = sorted((r for r in records if r.task_id == node.entry_task), key=lambda r: not r.tampered)
        kind = node.entry_task.removeprefix("solve_")
        if chosen:
            entry = Entry("task", chosen[0])
        elif kind in SYSTEMIC_KINDS and records:
            entry = Entry(kind, records[0])  # type: ignore[arg-type]
    entry = entry or choose_entry(records, rng)
    if entry is None:
        raise RuntimeError(f"node {node.parent_id} has no finished evaluation to learn from")
    evaluation = next(e for e in finished if e.id == entry.task.evaluation_id)
    folder = Path(evaluation.log_path) if evaluation.log_path else None

    def read(name: str) -> str:
        path = folder / name if folder else None
        return path.read_text(errors="replace") if path and path.is_file() else ""

    task = tasks.get(evaluation.task_id)
    evidence = GradeEvidence.from_details(evaluation.details)
    material = EntryMaterial(
        task_id=evaluation.task_id,
        problem_statement=task.problem_statement if task else "",
        trajectory=read("trajectory.jsonl"),
        patch=read("patch.diff"),
        outcome=f"{evaluation.outcome.value}: {evaluation.reason or ''}",
        test_output=read("test_output.txt"),
        tampering=evidence.tampering,
        set_aside=list(evidence.set_aside),
    )
    return entry, material
