"""The policy simulator: its worlds, each policy's conventions, and the paired comparison."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evolve.policies import make_policy
from evolve.simulator import (GroundTruth, World, compare, interval, markdown, paired_difference, parse_policy,
                              parse_worlds, run, simulate, t975)
from evolve.state import Kind

CLADE = str(Path(sys.executable).with_name("clade"))


# -- the world ---------------------------------------------------------------------------------------
def test_the_same_world_gives_every_policy_the_same_children_and_luck() -> None:
    one, two = GroundTruth(World(seed=5)), GroundTruth(World(seed=5))
    two.child(two.child((), 3), 1)  # grown in another order
    assert one.child(one.child((), 3), 1) == (3, 1)
    assert one.rate[(3, 1)] == two.rate[(3, 1)] and one.kind[(3,)] == two.kind[(3,)]
    assert [one.resolves((3,), t) for t in range(30)] == [two.resolves((3,), t) for t in range(30)]
    other = GroundTruth(World(seed=6))
    assert other.child((), 3) == (3,) and other.rate[(3,)] != one.rate[(3,)]


def test_attempts_are_failed_broken_or_valid_at_the_world_s_rates_and_only_valid_ones_resolve() -> None:
    truth = GroundTruth(World(seed=1, no_patch_rate=0.3, broken_rate=0.2))
    kinds = [truth.kind[truth.child((), k)] for k in range(2000)]
    share = {kind: kinds.count(kind) / len(kinds) for kind in (Kind.FAILED, Kind.BROKEN, Kind.VALID)}
    assert abs(share[Kind.FAILED] - 0.3) < 0.04 and abs(share[Kind.BROKEN] - 0.2) < 0.04
    assert not any(truth.resolves((k,), t) for k in range(2000) if kinds[k] != Kind.VALID for t in range(60))
    assert sum(truth.resolves((k,), t) for k in range(2000) if kinds[k] == Kind.VALID for t in range(60)) > 0


def _heritability(inherited: bool) -> float:
    """Correlation between a child's improvement on its parent and its own children's mean improvement."""
    truth = GroundTruth(World(seed=2, inherited_promise=inherited))
    mine, theirs = [], []
    for k in range(300):
        child = truth.child((), k)
        mine.append(truth.lineage[child] - truth.lineage[()])
        theirs.append(np.mean([truth.lineage[truth.child(child, j)] - truth.lineage[child] for j in range(4)]))
    return float(np.corrcoef(mine, theirs)[0, 1])


def test_inherited_promise_makes_improvement_heritable_and_the_fresh_world_does_not() -> None:
    assert _heritability(True) > 0.6
    assert abs(_heritability(False)) < 0.15


def test_task_difficulty_spreads_resolve_probabilities_around_the_agent_s_rate() -> None:
    flat = GroundTruth(World(seed=3, difficulty_spread=0.0))
    assert flat.true_rate[()] == pytest.approx(0.25)
    hard = GroundTruth(World(seed=3, difficulty_spread=2.0))
    children = [hard.child((), k) for k in range(400)]
    per_task = np.mean([hard.outcomes[c] for c in children if hard.kind[c] == Kind.VALID], axis=0)
    assert per_task.max() - per_task.min() > 0.5  # some tasks almost every agent solves, some almost none
    assert hard.true_rate[()] == pytest.approx(float(np.mean(1 / (1 + np.exp(-(math.log(1 / 3) - hard.difficulty))))))


# -- each policy under its own conventions ----------------------------------------------------------
def test_paper_hgm_evaluates_the_root_on_every_task_outside_the_budget_and_drops_failed_attempts() -> None:
    budget, world = 200, World(seed=2, no_patch_rate=0.5, broken_rate=0.0)  # its first attempt is valid
    sim = run(make_policy("hgm"), world, budget, seed=2)
    state = sim.state
    assert state.n_tried[0] == world.tasks  # the root: every task, before the search
    assert sim.charged == budget and state.dispatched_evaluations == budget + world.tasks
    bound = budget**0.6 + 1  # HGM expands while evaluations ** alpha >= nodes: one more at most
    failed = int(state.kind_counts[Kind.FAILED])
    assert state.members() - 1 <= bound < state.size - 1  # FAILED attempts are no nodes: more attempts than nodes
    assert failed > 10
    counted = run(make_policy("hgm", invalid_children="count_as_nodes"), world, budget, seed=2)
    assert counted.charged == budget  # (no stall: the first attempt is valid, see below)
    assert counted.state.size - 1 <= bound  # every attempt a node
    assert counted.state.size < sim.state.size


def test_broken_children_are_evaluated_and_fail_under_evaluate_and_are_pooled_under_pool_as_failures() -> None:
    world = World(seed=6, no_patch_rate=0.0, broken_rate=0.3)
    paper = run(make_policy("hgm"), world, 300, seed=6).state
    broken = np.flatnonzero(paper.kind[: paper.size] == Kind.BROKEN)
    assert len(broken) > 3 and paper.n_tried[broken].sum() > 0  # evaluated, as HGM evaluates a child with a patch
    assert paper.own_resolved[broken].sum() == 0  # and every one of those tasks failed
    pooled = run(make_policy("hgm", invalid_children="pool_as_failures", invalid_failures=2), world, 300, seed=6).state
    broken = np.flatnonzero(pooled.kind[: pooled.size] == Kind.BROKEN)
    assert len(broken) > 3 and pooled.n_tried[broken].sum() == 0  # never run
    assert (pooled.own_failed[broken] == 2).all()  # two failures each, at no cost


def test_dgm_s_root_is_outside_the_budget_unless_root_in_budget() -> None:
    world = World(seed=7)
    paper = run(make_policy("dgm"), world, 150, seed=7)
    assert paper.state.n_tried[0] == world.tasks and paper.charged == 150
    assert paper.state.dispatched_evaluations == 150 + world.tasks
    charged = run(make_policy("dgm", root_in_budget=True), world, 150, seed=7)
    assert charged.state.n_tried[0] < world.tasks and charged.state.dispatched_evaluations == 150


def test_hgm_options_that_count_non_agents_as_nodes_grow_instead_of_stalling() -> None:
    """The root has every task and the one initial child is no agent: the node count
    outruns 0 ** alpha and nothing is left to evaluate. Rather than end the run with its
    budget unspent, the policy expands again (Clade's guard)."""
    world = World(seed=3)
    for option in ("pool_as_failures", "count_as_nodes"):
        outcome = simulate(make_policy("hgm", invalid_children=option), world, 200, seed=3)
        assert not outcome.stalled and outcome.charged == 200 and outcome.attempts > 1
    assert not simulate(make_policy("hgm"), world, 200, seed=3).stalled


def test_the_exported_agent_is_the_best_belief_node_and_beats_the_root() -> None:
    """What the comparison measures: the true rate of the node best_belief ships."""
    gains = []
    for s in range(8):
        world = World(seed=s)
        outcome = simulate(make_policy("hgm"), world, 300, seed=s)
        assert outcome.charged == 300 and not outcome.stalled
        assert outcome.exported_rate <= outcome.best_rate_in_tree
        gains.append(outcome.exported_rate - GroundTruth(world).true_rate[()])
    mean, half = interval(gains)
    assert mean - half > 0, gains


# -- the paired comparison --------------------------------------------------------------------------
def test_intervals_on_known_numbers() -> None:
    mean, half = interval([1, 2, 3, 4, 5])  # sd = 1.5811, t(4) = 2.776
    assert mean == 3 and half == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5))
    diff, half = paired_difference([2, 4, 6], [1, 2, 3])  # differences 1, 2, 3: sd 1, t(2) = 4.303
    assert diff == 2 and half == pytest.approx(4.303 / math.sqrt(3))
    assert t975(30) == 2.042 and t975(40) == pytest.approx(2.0211, abs=1e-4)
    assert t975(100) == pytest.approx(1.9840, abs=1e-4) and t975(31) == pytest.approx(2.0395, abs=1e-4)
    assert math.isnan(interval([0.3])[1])
    with pytest.raises(ValueError, match="one reference value per world"):
        paired_difference([1, 2], [1])


def test_a_policy_paired_with_itself_differs_by_exactly_zero_and_seeds_repeat() -> None:
    rows = compare(["hgm", "hgm:alpha=0.6", "dgm"], trees=4, budgets=[120], seed=2)
    by = {r["policy"]: r for r in rows}
    assert by["hgm:alpha=0.6"]["difference"] == 0.0 and by["hgm:alpha=0.6"]["difference_ci95"] == 0.0
    assert by["dgm"]["difference"] != 0.0 and by["hgm"]["reference"] == "hgm"
    again = compare(["hgm", "hgm:alpha=0.6", "dgm"], trees=4, budgets=[120], seed=2, jobs=2)
    assert again == rows  # identical seeds, identical outcomes, in one process or several
    assert compare(["hgm"], trees=4, budgets=[120], seed=3) != compare(["hgm"], trees=4, budgets=[120], seed=2)[:1]


def test_rows_per_world_and_the_markdown_table() -> None:
    worlds = parse_worlds(["inherited_promise=true,false", "tasks=30"])
    assert worlds == [{"inherited_promise": True, "tasks": 30}, {"inherited_promise": False, "tasks": 30}]
    rows = compare(["greedy"], trees=3, budgets=[60], worlds=worlds, reference="random")
    assert [(r["world"], r["policy"]) for r in rows] == [
        ("inherited_promise=true tasks=30", "random"), ("inherited_promise=true tasks=30", "greedy"),
        ("inherited_promise=false tasks=30", "random"), ("inherited_promise=false tasks=30", "greedy")]
    table = markdown(rows).splitlines()
    assert table[0].startswith("| world | budget | policy |") and "Δ vs `random`" in table[0] and len(table) == 6
    assert "| `random` |" in table[2] and "| — |" in table[2]


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (parse_worlds, ["inherited=yes"], "unknown world option 'inherited': choose from root_rate, rate_noise"),
        (parse_worlds, ["no_patch_rate=0.7", "broken_rate=0.5"], "no_patch_rate \\+ broken_rate"),
        (parse_worlds, ["tasks=many"], "tasks takes a int"),
        (parse_worlds, ["tasks"], "is not KEY=VALUE"),
        (parse_policy, "hgm:invalid=evaluate", "options of hgm: alpha, cooldown, cooldown_beta, invalid_children"),
        (parse_policy, "hgm:invalid_children=skip", "invalid_children must be one of evaluate, pool_as_failures"),
        (parse_policy, "dgm:children_count", "is not KEY=VALUE"),
        (parse_policy, "best", "unknown policy 'best': choose one of hgm, dgm"),
    ],
)
def test_unknown_options_are_refused_by_name(parse, text, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_policy_options_are_typed() -> None:
    label, policy = parse_policy("dgm:generation_size=null;children_count=attempts")
    assert label == "dgm:generation_size=null;children_count=attempts"
    assert policy.generation_size is None and policy.children_count == "attempts"
    assert parse_policy("hgm:cooldown=true;alpha=0.5")[1].cooldown is True


def test_simulate_cli_json_and_errors() -> None:
    result = subprocess.run([CLADE, "simulate", "--policies", "dgm,hgm:invalid_children=pool_as_failures",
                             "--trees", "2", "--budget", "50,80", "--world", "inherited_promise=false", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["reference"] == "hgm" and "Student t" in report["interval"]
    assert [(r["budget"], r["policy"]) for r in report["results"]] == [
        (50, "hgm"), (50, "dgm"), (50, "hgm:invalid_children=pool_as_failures"),
        (80, "hgm"), (80, "dgm"), (80, "hgm:invalid_children=pool_as_failures")]
    assert {r["world"] for r in report["results"]} == {"inherited_promise=false"}
    for args, message in [(["--budget", "x"], "--budget must be whole numbers"),
                          (["--world", "spread=1"], "unknown world option 'spread'"),
                          (["--policies", "hgm:alpah=1"], "options of hgm: alpha")]:
        bad = subprocess.run([CLADE, "simulate", *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
