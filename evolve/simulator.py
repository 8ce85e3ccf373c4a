"""The policy simulator: every policy on the same synthetic ground truth.

A synthetic world is a lazily grown tree of agents. Each agent has a hidden
solve rate and a hidden *promise* — how much its descendants improve on it —
inherited with drift and independent of its own rate. That independence is
the metaproductivity–performance mismatch HGM is built around: a mediocre
agent can be the ancestor of the best ones. The k-th child of a given agent
and its result on a given task are fixed by the world's seed, so every policy
meets exactly the same children and the same luck.

What is compared is the true solve rate of the agent each policy would
export (by the same best-belief rule for all), for the same budget.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from evolve.final import best_belief
from evolve.policies import Budget, Evaluate, Expand, Policy
from evolve.state import TreeState

Path = tuple[int, ...]


@dataclass(frozen=True)
class World:
    seed: int
    root_rate: float = 0.25
    rate_noise: float = 0.05  # a child's own deviation, not inherited by its children
    promise_noise: float = 0.03  # drift of the inherited promise from parent to child
    invalid_rate: float = 0.2
    tasks: int = 60


class GroundTruth:
    """Each agent: a heritable `lineage` level, its own solve rate (the
    lineage plus noise that children do not inherit), and its promise."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lineage: dict[Path, float] = {(): world.root_rate}
        self.rate: dict[Path, float] = {(): world.root_rate}
        self.promise: dict[Path, float] = {(): 0.0}
        self.valid: dict[Path, bool] = {(): True}

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.world.seed, spawn_key=key))

    def child(self, parent: Path, k: int) -> Path:
        path = (*parent, k)
        if path not in self.rate:
            rng = self._rng(0, *path)
            self.promise[path] = self.promise[parent] + rng.normal(0.0, self.world.promise_noise)
            self.lineage[path] = self.lineage[parent] + self.promise[path]
            noise = rng.normal(0.0, self.world.rate_noise)
            self.rate[path] = float(np.clip(self.lineage[path] + noise, 0.01, 0.95))
            self.valid[path] = bool(rng.random() >= self.world.invalid_rate)
        return path

    def resolves(self, path: Path, task: int) -> bool:
        return bool(self._rng(1, task, *path).random() < self.rate[path])


@dataclass
class Outcome:
    policy: str
    exported_rate: float
    best_rate_in_tree: float
    nodes: int
    evaluations: int


def simulate(policy: Policy, world: World, budget: int, expansion_cost: float = 1.0, seed: int = 0) -> Outcome:
    """Run `policy` until `budget` (task evaluations; an expansion costs
    `expansion_cost` of them) is spent, then export by best belief."""
    truth = GroundTruth(world)
    tasks = [f"t{i}" for i in range(world.tasks)]
    state = TreeState(tasks)
    state.add_node(0, None)
    paths: dict[int, Path] = {0: ()}
    next_child: dict[int, int] = defaultdict(int)
    spent = Budget(total=budget)
    rng = np.random.default_rng(seed)
    cost = 0.0
    for _ in range(50 * budget):  # a policy that only writes invalid children still stops
        if cost >= budget:
            break
        spent.spent = int(cost)
        action = policy.next_action(state, rng, spent)
        if isinstance(action, Expand):
            k = next_child[action.parent_id]
            next_child[action.parent_id] += 1
            path = truth.child(paths[action.parent_id], k)
            node_id = len(paths)
            paths[node_id] = path
            state.add_node(node_id, action.parent_id, valid=truth.valid[path])
            cost += expansion_cost
        elif isinstance(action, Evaluate):
            task = int(action.task_id[1:])
            state.record(action.node_id, action.task_id, truth.resolves(paths[action.node_id], task))
            cost += 1
        else:
            break
    chosen = best_belief(state)
    exported = truth.rate[paths[chosen.node_id]] if chosen else truth.rate[()]
    best = max(truth.rate[p] for p in paths.values() if truth.valid[p])
    return Outcome(policy.name, exported, best, state.size, state.finished_evaluations)


def compare(policies: list[Policy], trees: int, budgets: list[int], seed: int = 0, **world: float) -> list[dict]:
    """Mean and spread of the exported agent's true rate, per policy and budget."""
    rows = []
    for budget in budgets:
        for policy in policies:
            outcomes = [
                simulate(policy, World(seed=seed * 100_003 + t, **world), budget, seed=seed + t) for t in range(trees)
            ]
            exported = np.array([o.exported_rate for o in outcomes])
            rows.append({
                "budget": budget,
                "policy": policy.name,
                "exported_mean": round(float(exported.mean()), 4),
                "exported_std": round(float(exported.std()), 4),
                "best_in_tree_mean": round(float(np.mean([o.best_rate_in_tree for o in outcomes])), 4),
                "nodes_mean": round(float(np.mean([o.nodes for o in outcomes])), 1),
                "trees": trees,
            })
    return rows


