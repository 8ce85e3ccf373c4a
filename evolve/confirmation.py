"""Confirming the final choice on held-out tasks.

The search's own results are biased upwards: they are what it selected
on. With `final.confirm_top: K` and held-out tasks, the K best candidates
are evaluated on those tasks, and the choice among them is made by those
results alone (same lower-quantile rule as evolve.final).
"""

from __future__ import annotations

from collections.abc import Iterable

from archive.repository import ArchiveRepository
from evolve.beta import beta_quantile
from evolve.final import Belief
from evolve.grades import success_counts


def owed(repo: ArchiveRepository, candidates: Iterable[Belief], held_out: Iterable[str]) -> list[tuple[int, str]]:
    """(node id, task id) of every held-out evaluation a candidate has not started yet."""
    held_out = list(held_out)
    work = []
    for candidate in candidates:
        started = {e.task_id for e in repo.node_evaluations(candidate.node_id)}
        work += [(candidate.node_id, task_id) for task_id in held_out if task_id not in started]
    return work


def confirmed_best(repo: ArchiveRepository, candidates: Iterable[Belief], held_out: Iterable[str],
                   quantile: float) -> Belief | None:
    """The candidate with the best belief on the held-out tasks alone."""
    held_out = set(held_out)
    confirmed = []
    for candidate in candidates:
        wins, total = success_counts(e.outcome for e in repo.node_evaluations(candidate.node_id)
                                     if e.task_id in held_out)
        confirmed.append(Belief(candidate.node_id, wins, total, beta_quantile(quantile, 1 + wins, 1 + total - wins)))
    return max(confirmed, key=lambda b: (b.lower, b.total), default=None)
