"""What a policy is: given the tree's counts, the next piece of work.

A policy answers `Expand(parent)` (grow a child of that node),
`Evaluate(node, task)` (run one more task on that node), or None (nothing
to do until running work finishes). It keeps no state of its own beyond its
parameters: everything it needs is in `TreeState`, which the scheduler keeps
up to date, so a resumed run decides exactly as an uninterrupted one would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from evaluator.stages import may_enter
from evolve.state import TreeState


@dataclass(frozen=True)
class Expand:
    parent_id: int


@dataclass(frozen=True)
class Evaluate:
    node_id: int
    task_id: str


Action = Expand | Evaluate | None


@dataclass
class Budget:
    """What the run has to spend: task evaluations (total, and spent as the policy's
    conventions count them: for cool-downs) and workers (HGM's initial expansions)."""

    total: int
    spent: int = 0
    workers: int = 1


def check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{parameter} must be one of {', '.join(choices)}, not {value!r}")


class Policy(ABC):
    name: str = ""

    @abstractmethod
    def next_action(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action: ...

    # Conventions the engine follows for the policy (the paper presets differ from Clade's own).
    @property
    def charges_root(self) -> bool:
        """Whether the root's evaluations count against the budget."""
        return True

    def pooled_failures(self) -> int:
        """Failed evaluations a broken child (a patch that failed validation) counts as, unrun."""
        return 0

    def conventions(self) -> dict[str, object]:
        """The conventions a run used, for its status, its page and its export's manifest."""
        return {}

    def evaluate_only(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        """The action when no more expansions are allowed (`budget.expansions` spent):
        by default none. HGM, which interleaves both, goes on evaluating."""
        return None


def thompson_pick(
    candidates: np.ndarray, successes: np.ndarray, failures: np.ndarray, rng: np.random.Generator, scale: float = 1.0
) -> int:
    """Index (into the state) of the candidate with the highest draw from
    Beta(scale·(1+s), scale·(1+f)). A scale above 1 sharpens every posterior."""
    draws = rng.beta(scale * (1 + successes[candidates]), scale * (1 + failures[candidates]))
    return int(candidates[int(np.argmax(draws))])


def first_untried(state: TreeState, i: int, tasks: list[str]) -> str | None:
    tried = state.tried[i]
    return next((t for t in tasks if t not in tried), None)


def owed_staged_task(state: TreeState, stages: list[tuple[int, float]],
                     evaluated: np.ndarray | None = None) -> Evaluate | None:
    """The next task a node owes under staged evaluation, oldest node first.

    `stages` are (tasks in this stage, share of the previous stages to be
    solved to enter it): DGM's is [(10, 0.0), (50, 0.4)]. A node enters a
    stage once every earlier task has *finished*. `evaluated` marks the nodes
    that are evaluated at all (default: the valid ones).
    """
    n = state.size
    evaluated = state.valid[:n] if evaluated is None else evaluated
    owing = np.flatnonzero(evaluated & (state.n_tried[:n] < len(state.tasks)))
    for i in owing:
        done = int(state.own_resolved[i] + state.own_failed[i])
        boundary = 0
        for size, threshold in stages:
            if boundary and (done < boundary or not may_enter(threshold, int(state.own_resolved[i]), boundary)):
                break  # earlier stage still running, or not good enough to go on (evaluator.stages)
            task = first_untried(state, int(i), state.tasks[boundary : boundary + size])
            if task is not None:
                return Evaluate(int(state.ids[i]), task)
            boundary += size
    return None


class EvaluateThenExpand(Policy):
    """The shape DGM, SICA, greedy and random share: every valid node first
    owes its staged evaluation; then a parent is chosen among nodes whose
    evaluation has finished (none running)."""

    eval_tasks: int = 10

    def stages(self) -> list[tuple[int, float]]:
        """Every new node runs the same first `eval_tasks` tasks."""
        return [(self.eval_tasks, 0.0)]

    @abstractmethod
    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        """The state index of the parent, among `candidates` (state indices)."""

    def may_expand(self, state: TreeState) -> bool:
        """Whether a new expansion may start now that no staged evaluation is owed (DGM: its generation)."""
        return True

    def evaluated(self, state: TreeState) -> np.ndarray:
        """The nodes that owe their staged evaluation: the valid ones (DGM adds broken ones)."""
        return state.valid[: state.size]

    def next_action(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        owed = owed_staged_task(state, self.stages(), self.evaluated(state))
        if owed is not None:
            return owed
        if not self.may_expand(state):
            return None
        n = state.size
        candidates = np.flatnonzero(state.valid[:n] & (state.own_total() > 0) & (state.in_flight[:n] == 0))
        if not len(candidates):
            return None
        return Expand(int(state.ids[self.choose_parent(state, candidates, rng)]))


def own_mean(state: TreeState, candidates: np.ndarray) -> np.ndarray:
    return state.own_resolved[candidates] / state.own_total()[candidates]
