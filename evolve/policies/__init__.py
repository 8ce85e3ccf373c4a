"""Search policies, selectable by name: hgm, dgm, sica, greedy, random."""

from __future__ import annotations

from typing import Any

from evolve.policies.base import Action, Budget, Evaluate, Expand, Policy
from evolve.policies.dgm import DGMPolicy
from evolve.policies.hgm import HGMPolicy
from evolve.policies.sica import SICAPolicy
from evolve.policies.simple import GreedyPolicy, RandomPolicy

POLICIES: dict[str, type[Policy]] = {
    "hgm": HGMPolicy,
    "dgm": DGMPolicy,
    "sica": SICAPolicy,
    "greedy": GreedyPolicy,
    "random": RandomPolicy,
}


def make_policy(name: str, **params: Any) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}: choose one of {', '.join(POLICIES)}")
    return POLICIES[name](**params)


__all__ = ["Action", "Budget", "Evaluate", "Expand", "POLICIES", "Policy", "make_policy"]
