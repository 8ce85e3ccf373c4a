"""Staged evaluation (DGM): the stages, and the one rule for entering the next.

DGM evaluates a new agent on 10 tasks, then on 50 more only when at least
40 % of the first were resolved. The same rule serves the evaluator's
library call (`evaluator.scoring.staged_evaluation`, one agent) and the
search's policies (`evolve.policies`, every node of a tree), so it lives
here, apart from both, with nothing heavy to import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluator.task import Task


@dataclass(frozen=True)
class Stage:
    """One stage of a staged evaluation: these tasks, run only when the
    resolved fraction so far is at least `threshold`."""

    name: str
    tasks: Sequence[Task]
    threshold: float = 0.0


def may_enter(threshold: float, resolved: int, finished: int) -> bool:
    """May an agent that resolved `resolved` of the `finished` tasks of the
    stages before go on to a stage with this threshold? (The first stage,
    with nothing finished before it, is always entered.)"""
    return finished == 0 or resolved >= threshold * finished


def dgm_stages(small: Sequence[Task], medium: Sequence[Task], threshold: float = 0.4) -> list[Stage]:
    """DGM's two stages: `small`, then `medium` when at least `threshold` of small is resolved."""
    return [Stage("small", small), Stage("medium", medium, threshold)]
