"""Policies and counts on hand-built trees with known numbers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evolve.final import best_belief, rank
from evolve.policies import Budget, Evaluate, Expand, make_policy
from evolve.state import Kind, TreeState

TASKS = [f"t{i}" for i in range(20)]


def build(tasks=TASKS, nodes=(), results=()) -> TreeState:
    """nodes: (id, parent, valid); results: (node, 'RRU...') in task order."""
    state = TreeState(tasks, capacity=2)  # tiny capacity: growth is exercised too
    for node_id, parent, valid in nodes:
        state.add_node(node_id, parent, valid=valid)
    for node_id, outcomes in results:
        for task, code in zip(tasks, outcomes):
            state.record(node_id, task, code == "R")
    return state


def test_clade_counts_are_sums_and_leave_own_counts_alone() -> None:
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 2, True), (4, 1, True)],
                  results=[(1, "RU"), (2, "U"), (3, "RRR"), (4, "URU")])
    assert state.counts(1) == (1, 1, 5, 4)
    assert state.counts(2) == (0, 1, 3, 1)
    assert state.counts(3) == (3, 0, 3, 0)
    assert state.counts(4) == (1, 2, 1, 2)
    assert state.finished_evaluations == 9
    # The HGM defect, checked against: pooling must not change a node's own record.
    assert (state.own_resolved[0], state.own_failed[0]) == (1, 1)


def test_dispatched_tasks_count_as_tried_until_they_finish() -> None:
    state = build(nodes=[(1, None, True)])
    state.start(1, "t3")
    assert "t3" not in state.untried(1) and state.in_flight[0] == 1 and state.n_tried[0] == 1
    state.record(1, "t3", True)
    assert state.in_flight[0] == 0 and state.n_tried[0] == 1 and state.counts(1)[0] == 1
    rebuilt = TreeState.from_rows(TASKS, [(1, None, True)], [(1, "t3", True), (1, "t4", None)])
    assert rebuilt.counts(1) == (1, 0, 1, 0) and rebuilt.in_flight[0] == 1 and rebuilt.n_tried[0] == 2


def test_hgm_evaluates_then_expands_the_root_then_follows_the_alpha_rule() -> None:
    hgm = make_policy("hgm", alpha=0.6, initial_expansions=2, root_evaluations=2)
    rng = np.random.default_rng(0)
    state = build(nodes=[(1, None, True)])
    for _ in range(2):  # the seed's own results first: an expansion learns from a failure
        action = hgm.next_action(state, rng, Budget(100))
        assert isinstance(action, Evaluate) and action.node_id == 1
        state.start(1, action.task_id)
    assert hgm.next_action(state, rng, Budget(100)) is None  # both still running
    for task in list(state.tried[0]):
        state.record(1, task, False)
    assert hgm.next_action(state, rng, Budget(100)) == Expand(1)
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 1, True)], results=[(1, "UU")])
    # 2 evaluations: 2 ** 0.6 = 1.52 < 2 nodes beyond the root -> evaluate
    action = hgm.next_action(state, rng, Budget(100))
    assert isinstance(action, Evaluate) and action.task_id in TASKS
    # 6 evaluations: 6 ** 0.6 = 2.93 >= 2 -> expand a node with a success in its clade
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 1, True)], results=[(1, "UU"), (2, "RR"), (3, "UU")])
    assert hgm.next_action(state, rng, Budget(100)) in {Expand(1), Expand(2)}
    state.pending_expansions = 1  # one more expansion running: 2.93 < 3 -> evaluate
    assert isinstance(hgm.next_action(state, rng, Budget(100)), Evaluate)
    assert isinstance(hgm.evaluate_only(state, rng, Budget(100)), Evaluate)


def test_hgm_expands_by_clade_not_by_own_score() -> None:
    """Node 2 failed its own tasks but its child solves everything; node 3 is
    mediocre and childless. CMP picks node 2's clade far more often (Clade's
    `expand_from: clade_success`: HGM's own code never expands node 2)."""
    hgm = make_policy("hgm", alpha=1.0, initial_expansions=0, root_evaluations=0, expand_from="clade_success")
    state = build(
        nodes=[(1, None, True), (2, 1, True), (3, 1, True), (4, 2, True)],
        results=[(1, "UUUUUUUUUU"), (2, "UUUU"), (3, "RRUUUU"), (4, "RRRRRRRRRRRRRRRRRRRR")],
    )
    rng = np.random.default_rng(1)
    picks = Counter(hgm.next_action(state, rng, Budget(1000)).parent_id for _ in range(400))
    assert picks[4] + picks[2] > 0.9 * 400 and picks[2] > picks[3]
    paper = make_policy("hgm", alpha=1.0, initial_expansions=0, root_evaluations=0)
    picks = Counter(paper.next_action(state, rng, Budget(1000)).parent_id for _ in range(400))
    assert picks[2] == 0 and picks[1] == 0 and picks[4] > picks[3]  # own mean > 0 only


def test_hgm_evaluates_an_untried_task_and_never_repeats_one() -> None:
    hgm = make_policy("hgm", alpha=0.01, initial_expansions=0, root_evaluations=0)
    state = build(tasks=["a", "b", "c"], nodes=[(1, None, True), (2, 1, False)])
    rng = np.random.default_rng(2)
    seen = []
    for _ in range(3):
        action = hgm.next_action(state, rng, Budget(10))
        assert isinstance(action, Evaluate) and action.node_id == 1  # invalid node 2 is never evaluated
        seen.append(action.task_id)
        state.start(1, action.task_id)
    assert sorted(seen) == ["a", "b", "c"]
    assert hgm.next_action(state, rng, Budget(10)) is None  # everything tried, nothing finished


def test_hgm_cooldown_sharpens_posteriors() -> None:
    hgm = make_policy("hgm", cooldown=True, cooldown_beta=1.0)
    assert hgm._scale(Budget(100, 0)) == 1.0
    assert hgm._scale(Budget(100, 90)) == pytest.approx(10.0)


def test_dgm_stages_then_weights_parents_by_score_and_children() -> None:
    dgm = make_policy("dgm", stage_sizes=[(2, 0.0), (3, 0.5)], children_count="attempts")
    rng = np.random.default_rng(3)
    state = build(tasks=TASKS[:5], nodes=[(1, None, True)])
    assert dgm.next_action(state, rng, Budget(50)) == Evaluate(1, "t0")
    state.start(1, "t0")
    assert dgm.next_action(state, rng, Budget(50)) == Evaluate(1, "t1")
    state.start(1, "t1")
    assert dgm.next_action(state, rng, Budget(50)) is None  # stage 1 running: wait
    state.record(1, "t0", True)
    state.record(1, "t1", False)
    assert dgm.next_action(state, rng, Budget(50)) == Evaluate(1, "t2")  # 1/2 >= 50 %: stage 2
    poor = build(tasks=TASKS[:5], nodes=[(1, None, True)], results=[(1, "UU")])
    assert dgm.next_action(poor, rng, Budget(50)) == Expand(1)  # below threshold: stop evaluating
    # Two finished parents: score 0.8 with 4 children vs score 0.8 with none.
    state = build(tasks=TASKS[:5], nodes=[(1, None, True), (2, 1, True)] + [(10 + k, 1, False) for k in range(3)],
                  results=[(1, "RRRRU"), (2, "RRRRU")])
    picks = Counter(dgm.next_action(state, rng, Budget(50)).parent_id for _ in range(2000))
    # weights ∝ 1/(1+4) and 1/(1+0): node 2 five times as often
    assert 4.0 < picks[2] / picks[1] < 6.3
    # DGM's own count: archive members only (node 2), not the three invalid attempts
    paper = make_policy("dgm", stage_sizes=[(2, 0.0), (3, 0.5)])
    picks = Counter(paper.next_action(state, rng, Budget(50)).parent_id for _ in range(2000))
    assert 1.6 < picks[2] / picks[1] < 2.5


def test_dgm_evaluates_a_broken_child_as_dgm_does_and_never_draws_it_as_a_parent() -> None:
    rng = np.random.default_rng(5)
    for option, owed in (("evaluate", Evaluate(2, "t0")), ("skip", Expand(1))):
        dgm = make_policy("dgm", stage_sizes=[(2, 0.0)], generation_size=None, invalid_children=option)
        state = build(tasks=TASKS[:2], nodes=[(1, None, True)], results=[(1, "RU")])
        state.add_node(2, 1, kind=Kind.BROKEN)  # a patch that failed validation
        assert dgm.next_action(state, rng, Budget(50)) == owed
    dgm = make_policy("dgm", stage_sizes=[(2, 0.0)], generation_size=None)
    state = build(tasks=TASKS[:2], nodes=[(1, None, True)], results=[(1, "RU")])
    state.add_node(2, 1, kind=Kind.BROKEN)
    for task in ("t0", "t1"):
        state.record(2, task, False)
    assert {dgm.next_action(state, rng, Budget(50)).parent_id for _ in range(200)} == {1}
    assert state.valid_children[0] == 0  # not an archive member: it does not lower its parent's weight
    with pytest.raises(ValueError, match="invalid_children"):
        make_policy("dgm", invalid_children="pool")


def test_sica_builds_on_the_latest_agent_within_the_best_ones_bound() -> None:
    sica = make_policy("sica", eval_tasks=10)
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 2, True), (4, 1, True)],
                  results=[(1, "RRRRRUUUUU"), (2, "RRRRRRRUUU"), (3, "RRRRRRUUUU"), (4, "RUUUUUUUUU")])
    # best: node 2 at 0.7, bound 0.7 - 1.96·sqrt(.21/10) = 0.416; node 4 (0.1) is below, node 3 (0.6) is the latest above
    assert sica.next_action(state, np.random.default_rng(0), Budget(100)) == Expand(3)


def test_greedy_and_random() -> None:
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 1, True)],
                  results=[(1, "RUUUUUUUUU"), (2, "RRRRRUUUUU"), (3, "RRUUUUUUUU")])
    rng = np.random.default_rng(0)
    assert make_policy("greedy").next_action(state, rng, Budget(100)) == Expand(2)
    picks = Counter(make_policy("random").next_action(state, rng, Budget(100)).parent_id for _ in range(300))
    assert set(picks) == {1, 2, 3}


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of hgm, dgm, sica, greedy, random"):
        make_policy("bogus")


def test_best_belief_prefers_evidence_over_luck() -> None:
    state = build(nodes=[(1, None, True), (2, 1, True), (3, 1, True), (4, 1, False)],
                  results=[(2, "R"), (3, "RRRRRRRRRRRRRRRRUUUU"), (1, "RRUUU")])
    best = best_belief(state, min_evaluations=1)
    assert best.node_id == 3 and (best.resolved, best.total) == (16, 20)
    assert 0.6 < best.lower < 0.8
    assert [b.node_id for b in rank(state, min_evaluations=5)] == [3, 1]
    assert best_belief(build(nodes=[(1, None, True)])) is None


def test_incremental_beliefs_pick_what_rank_beliefs_picks() -> None:
    """The live view's leader (`Beliefs`) against the one rule, after every result, on random
    trees with many equal counts (ties broken by evaluations, then creation order)."""
    from evolve.final import Beliefs
    from evolve.state import Kind

    rng = np.random.default_rng(7)
    for _ in range(20):
        state = TreeState(TASKS[:6], capacity=2)
        state.add_node(1, None)
        beliefs = Beliefs(state, 0.05, 3)
        for node_id in range(2, 30):
            state.add_node(node_id, int(rng.integers(1, node_id)), kind=Kind.BUILDING)
            state.finish_node(node_id, Kind.VALID if rng.random() < 0.8 else Kind.BROKEN)
        for _ in range(80):
            node_id = int(rng.integers(1, 30))
            untried = state.untried(node_id)
            if not untried:
                continue
            state.record(node_id, untried[0], bool(rng.random() < 0.4))
            beliefs.update(node_id)
            assert beliefs.best() == best_belief(state, 0.05, 3)
