"""Baselines: always expand the best-scoring node, or a random one. Every new
node is evaluated on the same first `eval_tasks` tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.policies.base import EvaluateThenExpand, own_mean
from evolve.state import TreeState


@dataclass
class GreedyPolicy(EvaluateThenExpand):
    eval_tasks: int = 10
    name: str = "greedy"

    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        mean = own_mean(state, candidates)
        return int(candidates[mean == mean.max()].max())  # ties: the newest


@dataclass
class RandomPolicy(EvaluateThenExpand):
    eval_tasks: int = 10
    name: str = "random"

    def choose_parent(self, state: TreeState, candidates: np.ndarray, rng: np.random.Generator) -> int:
        return int(rng.choice(candidates))
