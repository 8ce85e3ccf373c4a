"""Huxley-Gödel Machine: expand by clade-metaproductivity, evaluate by own results.

The defaults are HGM's published code (metauto-ai/HGM, `hgm.py`, `tree.py`,
`hgm_utils.py`; arXiv 2510.21614), convention by convention:

* Thompson sampling on Beta(1 + resolved, 1 + failed); expand when
  `n_evals ** alpha >= nodes - 1 + pending expansions`, where `n_evals`
  counts the non-root evaluations *dispatched* (`hgm_utils.n_task_evals`
  grows when an evaluation starts) and `nodes` the tree's nodes;
* a node is a child with a non-empty patch: an attempt that left none (the
  diagnosis failed, the agent changed nothing, the patch does not apply) is
  never added (`hgm.py` `expand`: `if child_commit != "failed"`), and a
  child with a patch is evaluated like any other even when it is broken, so
  its failures reach its ancestors' clades (`invalid_children: evaluate`);
* the parent is drawn on its clade's pooled counts among nodes whose *own*
  mean is positive (`np.isfinite(mean) and mean > 0`: `expand_from:
  own_success`); the evaluated node on its own counts among nodes with an
  untried task, the task drawn at random (`eval_random_level: 1.0`);
* the root is evaluated on every task before the search, outside the budget
  (`initialize_run`), which then counts non-root evaluations only;
* `min(5, int(workers ** alpha))` expansions of the root start first, and
  the loop waits for them (`initial_expansions: null`);
* the optional cool-down multiplies every posterior's parameters by
  (T / (T - n)) ** beta.

Clade's variants are named options, off unless chosen (the README's policy
table says what each changes and what the simulator found):
`invalid_children: pool_as_failures` (a broken child is not evaluated; it
counts as `invalid_failures` failed evaluations in its own and its
ancestors' counts, at no cost) or `count_as_nodes` (every attempt is a node,
an invalid one brings no evidence); `expand_from: clade_success` (a node
whose own tries all failed may be expanded when its clade has successes);
`root_evaluations: N` (the root gets N evaluations, charged to the budget,
and stays evaluable); `initial_expansions: N` (not waited for);
`count_evaluations: finished`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.policies.base import Action, Budget, Evaluate, Expand, Policy, check_choice, thompson_pick
from evolve.state import Kind, TreeState

INVALID_CHILDREN = ("evaluate", "pool_as_failures", "count_as_nodes")
EXPAND_FROM = ("own_success", "clade_success")
COUNT_EVALUATIONS = ("dispatched", "finished")


@dataclass
class HGMPolicy(Policy):
    alpha: float = 0.6
    cooldown: bool = False
    cooldown_beta: float = 1.0
    invalid_children: str = "evaluate"
    invalid_failures: int = 1
    expand_from: str = "own_success"
    root_evaluations: int | None = None  # None: every task, before the search, outside the budget
    initial_expansions: int | None = None  # None: min(5, int(workers ** alpha)), waited for
    count_evaluations: str = "dispatched"
    name: str = "hgm"

    def __post_init__(self) -> None:
        check_choice("invalid_children", self.invalid_children, INVALID_CHILDREN)
        check_choice("expand_from", self.expand_from, EXPAND_FROM)
        check_choice("count_evaluations", self.count_evaluations, COUNT_EVALUATIONS)

    # -- conventions the engine asks about -------------------------------------
    @property
    def charges_root(self) -> bool:
        return self.root_evaluations is not None

    def pooled_failures(self) -> int:
        return self.invalid_failures if self.invalid_children == "pool_as_failures" else 0

    def conventions(self) -> dict[str, object]:
        return {"invalid_children": self.invalid_children, "expand_from": self.expand_from,
                "root_evaluations": "all, outside the budget" if self.root_evaluations is None
                else f"{self.root_evaluations}, charged to the budget",
                "initial_expansions": "min(5, int(workers ** alpha)), waited for" if self.initial_expansions is None
                else f"{self.initial_expansions}, not waited for",
                "count_evaluations": self.count_evaluations}

    # -- the rule ----------------------------------------------------------------
    def _scale(self, budget: Budget) -> float:
        if not self.cooldown or budget.total <= budget.spent:
            return 1.0
        return (budget.total / (budget.total - budget.spent)) ** self.cooldown_beta

    def _evaluable(self, state: TreeState) -> np.ndarray:
        return self._agents(state) & (state.n_tried[: state.size] < len(state.tasks))

    def _nodes(self, state: TreeState) -> int:
        """The tree's nodes beyond the root, expansions under way included."""
        if self.invalid_children == "count_as_nodes":
            return state.size - 1 + state.pending_expansions
        return state.members() - 1 + state.pending_expansions

    def _evaluations(self, state: TreeState) -> int:
        outside = self.root_evaluations is None  # HGM's root results are outside the count
        if self.count_evaluations == "finished":
            root = int(state.own_resolved[0] + state.own_failed[0]) if outside else 0
            return state.finished_evaluations - root
        return state.dispatched_evaluations - (int(state.n_tried[0]) if outside else 0)

    def _initial(self, budget: Budget) -> int:
        if self.initial_expansions is not None:
            return self.initial_expansions
        return min(5, int(budget.workers**self.alpha))

    def next_action(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        n = state.size
        if n == 0:
            return None
        root_goal = len(state.tasks) if self.root_evaluations is None else min(self.root_evaluations, len(state.tasks))
        if state.n_tried[0] < root_goal:
            return self._evaluate(state, np.array([0]), rng, 1.0)  # an expansion needs a result to learn from
        root_done = int(state.own_resolved[0] + state.own_failed[0])
        if self.root_evaluations is None and root_done < root_goal:
            return None  # HGM's search starts from a fully evaluated root
        initial = self._initial(budget)
        if state.children[0] < initial:
            if root_done == 0:
                return None  # the root's first results are still running
            return Expand(int(state.ids[0]))
        if self.initial_expansions is None and n - 1 == state.children[0] == initial \
                and state.kind_counts[Kind.BUILDING]:
            return None  # HGM waits for its initial expansions before the loop
        scale = self._scale(budget)
        if self._evaluations(state) ** self.alpha >= self._nodes(state):
            expand = self._expand(state, rng, scale)
            if expand is not None:
                return expand
        evaluate = self._evaluate(state, np.flatnonzero(self._evaluable(state)), rng, scale)
        if evaluate is None and not state.work_under_way():
            # Nothing left to evaluate and nothing running, with the node count ahead of the
            # evaluations (non-agents counted as nodes, or pooled): grow rather than end the run
            # with its budget unspent. Clade's guard; HGM's own loop never reaches this state.
            return self._expand(state, rng, scale)
        return evaluate

    def _expand(self, state: TreeState, rng: np.random.Generator, scale: float) -> Action:
        parents = self._parents(state)
        if not len(parents):
            return None
        i = thompson_pick(parents, state.clade_resolved, state.clade_failed, rng, scale)
        return Expand(int(state.ids[i]))

    def _agents(self, state: TreeState) -> np.ndarray:
        """Nodes that are agents to the search: valid children, and broken ones where HGM evaluates them."""
        kinds = state.kind[: state.size]
        if self.invalid_children == "evaluate":
            return (kinds == Kind.VALID) | (kinds == Kind.BROKEN)
        return kinds == Kind.VALID

    def _parents(self, state: TreeState) -> np.ndarray:
        n = state.size
        if self.expand_from == "own_success":
            return np.flatnonzero(self._agents(state) & (state.own_resolved[:n] > 0))
        return np.flatnonzero(self._agents(state) & (state.own_total() > 0) & (state.clade_resolved[:n] > 0))

    def _evaluate(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator, scale: float) -> Action:
        """One random untried task on a candidate drawn on its own counts."""
        if not len(candidates):
            return None
        i = thompson_pick(candidates, state.own_resolved, state.own_failed, rng, scale)
        untried = [t for t in state.tasks if t not in state.tried[i]]
        return Evaluate(int(state.ids[i]), untried[int(rng.integers(len(untried)))])

    def evaluate_only(self, state: TreeState, rng: np.random.Generator, budget: Budget) -> Action:
        """The evaluation branch alone, for when the expansion budget is spent."""
        return self._evaluate(state, np.flatnonzero(self._evaluable(state)), rng, self._scale(budget))
