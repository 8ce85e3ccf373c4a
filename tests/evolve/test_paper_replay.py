"""The paper presets replayed against the anchors' decision rules.

Each `_hgm_*` / `_dgm_*` function below is a transcription, in our own words,
of what the published code does with a tree's counts (metauto-ai/HGM
`hgm.py` `sample`/`expand`/`TS_sample`, `tree.py` `get_decendant_evals`;
jennyzzt/dgm `DGM_outer.py` `choose_selfimproves`). The anchor's tree holds
only what the anchor keeps: HGM drops an attempt that left no patch, DGM's
archive only children that compiled. Clade's policy gets the same tree as
its archive would hold it (every attempt), and the two choice distributions
are compared with a chi-square test of homogeneity at p = 0.001, seeds fixed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from evolve.policies import Budget, Evaluate, Expand, make_policy
from evolve.state import Kind, TreeState

DRAWS = 20_000


@dataclass
class AnchorNode:
    """A node as the anchor keeps it: its own 0/1 results and the tasks it was sent."""

    id: int
    parent: int | None
    results: list[int] = field(default_factory=list)
    submitted: set[str] = field(default_factory=set)


def _descendants(nodes: dict[int, AnchorNode], root: int) -> list[int]:
    out, stack = [], [root]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(n.id for n in nodes.values() if n.parent == i)
    return out


def _ts(rng: np.random.Generator, evals: list[list[int]], scale: float) -> int:
    """HGM's TS_sample: Beta(1 + successes, 1 + failures), both scaled, argmax."""
    a = np.array([1 + sum(e) for e in evals]) * scale
    b = np.array([1 + len(e) - sum(e) for e in evals]) * scale
    return int(np.argmax(rng.beta(a, b)))


def _hgm_choice(nodes: dict[int, AnchorNode], tasks: list[str], n_task_evals: int, pending: int,
                alpha: float, rng: np.random.Generator, scale: float = 1.0) -> tuple:
    """One decision of HGM's `sample()` (with `eval_random_level` 1.0: a random available task)."""
    if n_task_evals**alpha >= len(nodes) - 1 + pending:
        eligible = [n for n in nodes.values() if n.results and sum(n.results) / len(n.results) > 0]
        clades = [[r for d in _descendants(nodes, n.id) for r in nodes[d].results] for n in eligible]
        return ("expand", eligible[_ts(rng, clades, scale)].id)
    open_nodes = [n for n in nodes.values() if len(n.submitted) < len(tasks)]
    chosen = open_nodes[_ts(rng, [n.results for n in open_nodes], scale)]
    available = [t for t in tasks if t not in chosen.submitted]
    return ("evaluate", chosen.id, available[int(rng.integers(len(available)))])


def _dgm_parents(archive: dict[int, AnchorNode], rng: np.random.Generator) -> int:
    """DGM's `score_child_prop`: sigmoid(10·(score − 0.5)) / (1 + children in the archive)."""
    ids = list(archive)
    children = Counter(n.parent for n in archive.values() if n.parent is not None)
    weights = [1 / (1 + math.exp(-10 * (sum(archive[i].results) / len(archive[i].results) - 0.5)))
               / (1 + children[i]) for i in ids]
    total = sum(weights)
    return int(rng.choice(ids, p=[w / total for w in weights]))


def _homogeneous(a: Counter, b: Counter) -> tuple[float, float]:
    """(chi-square statistic, critical value at p = 0.001) for two samples of choices."""
    keys = sorted(set(a) | set(b), key=str)
    if len(keys) == 1:
        return 0.0, 0.0
    na, nb = sum(a.values()), sum(b.values())
    stat = 0.0
    for k in keys:
        total = a[k] + b[k]
        for count, n in ((a[k], na), (b[k], nb)):
            expected = total * n / (na + nb)
            stat += (count - expected) ** 2 / expected
    df = len(keys) - 1  # Wilson-Hilferty: the chi-square quantile from the normal one (z = 3.09)
    critical = df * (1 - 2 / (9 * df) + 3.0902 * math.sqrt(2 / (9 * df))) ** 3
    return stat, critical


def _tree(tasks: list[str], rows: list[tuple[int, int | None, Kind, str]]) -> tuple[TreeState, dict[int, AnchorNode]]:
    """rows: (id, parent, kind, results as R/U in task order). The anchor keeps every node but FAILED ones."""
    state, anchor = TreeState(tasks), {}
    for node_id, parent, kind, results in rows:
        state.add_node(node_id, parent, kind=kind)
        for task, code in zip(tasks, results):
            state.record(node_id, task, code == "R")
        if kind != Kind.FAILED:
            anchor[node_id] = AnchorNode(node_id, parent, [int(c == "R") for c in results], set(tasks[:len(results)]))
    return state, anchor


TASKS = [f"t{i}" for i in range(12)]
R, U = "R", "U"
# A root evaluated on every task, then a tree with a broken child (patch, failed validation) and
# four attempts that left no child: HGM has 6 nodes beyond the root, Clade's archive 10 attempts.
WITH_INVALID = [
    (0, None, Kind.VALID, "RRUUUUUUUUUU"),
    (1, 0, Kind.VALID, "RRRU"), (2, 0, Kind.VALID, "UUUU"), (3, 0, Kind.FAILED, ""),
    (4, 1, Kind.VALID, "RRRRRU"), (5, 1, Kind.BROKEN, "UU"), (6, 2, Kind.VALID, "RU"),
    (7, 4, Kind.VALID, ""), (8, 4, Kind.FAILED, ""), (9, 6, Kind.FAILED, ""), (10, 2, Kind.FAILED, ""),
]

GROWN = [*WITH_INVALID, *[(20 + k, 1, Kind.VALID, "RUUUUUUU") for k in range(4)]]  # 50 non-root evaluations


def _replay(policy, state: TreeState, anchor: dict[int, AnchorNode], budget: Budget, anchor_evals: int,
            scale: float = 1.0) -> tuple[Counter, Counter]:
    ours, theirs = Counter(), Counter()
    rng_ours, rng_theirs = np.random.default_rng(11), np.random.default_rng(12)
    for _ in range(DRAWS):
        action = policy.next_action(state, rng_ours, budget)
        ours[("expand", action.parent_id) if isinstance(action, Expand) else ("evaluate", action.node_id)] += 1
        choice = _hgm_choice(anchor, TASKS, anchor_evals, 0, policy.alpha, rng_theirs, scale)
        theirs[choice[:2]] += 1
    return ours, theirs


def test_hgm_preset_expands_as_hgm_does_on_a_tree_with_invalid_attempts() -> None:
    state, anchor = _tree(TASKS, WITH_INVALID)
    n_task_evals = sum(len(n.results) for i, n in anchor.items() if i != 0)  # non-root, as HGM counts
    assert n_task_evals == 18 and len(anchor) - 1 == 6
    hgm = make_policy("hgm")  # 18 ** 0.6 = 5.66 < 6 nodes: HGM evaluates
    ours, theirs = _replay(hgm, state, anchor, Budget(100, 18, workers=2), n_task_evals)
    assert all(kind == "evaluate" for kind, _ in ours) and all(kind == "evaluate" for kind, _ in theirs)
    stat, critical = _homogeneous(ours, theirs)
    assert stat < critical, (stat, critical, ours, theirs)
    assert ours[("evaluate", 5)] > 0  # the broken child is evaluated, as HGM evaluates a child with a patch
    # Clade's former convention (every attempt a node) decides differently on the same counts
    variant = make_policy("hgm", invalid_children="count_as_nodes")
    assert variant._nodes(state) == 10 and hgm._nodes(state) == 6


def test_hgm_preset_expansion_choice_matches_hgm() -> None:
    state, anchor = _tree(TASKS, GROWN)
    n_task_evals = sum(len(n.results) for i, n in anchor.items() if i != 0)
    assert n_task_evals**0.6 >= len(anchor) - 1  # 50 ** 0.6 = 10.5 >= 10 + 0 pending: expand
    ours, theirs = _replay(make_policy("hgm"), state, anchor, Budget(100, n_task_evals, workers=2), n_task_evals)
    assert set(k for k, _ in ours) == {"expand"} and ours.keys() == theirs.keys()
    assert ("expand", 2) not in ours  # own mean 0: never a parent, whatever its clade
    stat, critical = _homogeneous(ours, theirs)
    assert stat < critical, (stat, critical, ours, theirs)


def test_hgm_preset_cooldown_matches_hgm() -> None:
    state, anchor = _tree(TASKS, GROWN)
    n = sum(len(r.results) for i, r in anchor.items() if i != 0)
    total = n + 6  # 6 evaluations left: every posterior's parameters × (56 / 6)
    hgm = make_policy("hgm", cooldown=True)
    ours, theirs = _replay(hgm, state, anchor, Budget(total, n, workers=2), n, scale=total / (total - n))
    stat, critical = _homogeneous(ours, theirs)
    assert stat < critical, (stat, critical, ours, theirs)
    plain_ours, _ = _replay(make_policy("hgm"), state, anchor, Budget(total, n, workers=2), n)
    assert _homogeneous(ours, plain_ours)[0] > critical  # and the cool-down does change the choice


def test_dgm_preset_parent_distribution_matches_dgm() -> None:
    tasks = TASKS[:10]
    rows = [(0, None, Kind.VALID, "RRRRUUUUUU"), (1, 0, Kind.VALID, "RRRRRRUUUU"), (2, 0, Kind.FAILED, ""),
            (3, 0, Kind.BROKEN, "UUUUUUUUUU"), (4, 1, Kind.VALID, "RRRRRRRUUU"), (5, 1, Kind.FAILED, ""),
            (6, 0, Kind.VALID, "RRUUUUUUUU")]
    state, anchor = _tree(tasks, rows)
    # DGM keeps the children that ran their first stage and produced a patch: the broken one
    # (3) was evaluated too, as DGM evaluates it, and solved nothing, so it is not kept.
    archive = {i: n for i, n in anchor.items() if n.results and i != 3}
    dgm = make_policy("dgm", stage_sizes=[(10, 0.0)], generation_size=None)
    rng_ours, rng_theirs = np.random.default_rng(3), np.random.default_rng(4)
    ours = Counter(dgm.next_action(state, rng_ours, Budget(100)).parent_id for _ in range(DRAWS))
    theirs = Counter(_dgm_parents(archive, rng_theirs) for _ in range(DRAWS))
    stat, critical = _homogeneous(ours, theirs)
    assert stat < critical, (stat, critical, ours, theirs)
    attempts = make_policy("dgm", stage_sizes=[(10, 0.0)], generation_size=None, children_count="attempts")
    other = Counter(attempts.next_action(state, rng_ours, Budget(100)).parent_id for _ in range(DRAWS))
    assert _homogeneous(other, theirs)[0] > critical  # counting every attempt is another rule


def test_hgm_preset_evaluates_the_root_on_every_task_first_then_waits_for_its_initial_expansions() -> None:
    tasks = TASKS[:4]
    hgm = make_policy("hgm")  # workers 4: min(5, int(4 ** 0.6)) = 2 initial expansions
    rng, budget = np.random.default_rng(0), Budget(20, 0, workers=4)
    state = TreeState(tasks)
    state.add_node(1, None)
    sent = []
    for _ in range(4):
        action = hgm.next_action(state, rng, budget)
        assert isinstance(action, Evaluate) and action.node_id == 1
        state.start(1, action.task_id)
        sent.append(action.task_id)
    assert sorted(sent) == tasks
    assert hgm.next_action(state, rng, budget) is None  # the search starts from a fully evaluated root
    for task in tasks[:3]:
        state.record(1, task, task == "t0")
    assert hgm.next_action(state, rng, budget) is None
    state.record(1, "t3", False)
    assert not hgm.charges_root  # and none of the four counts against the budget
    for node_id in (2, 3):
        assert hgm.next_action(state, rng, budget) == Expand(1)
        state.add_node(node_id, 1, kind=Kind.BUILDING)
    assert hgm.next_action(state, rng, budget) is None  # HGM waits for its initial expansions
    state.finish_node(2, Kind.VALID)
    assert hgm.next_action(state, rng, budget) is None
    state.finish_node(3, Kind.FAILED)  # no child: not a node, and not retried
    action = hgm.next_action(state, rng, budget)
    assert action == Evaluate(2, action.task_id)  # 0 ** 0.6 < 1 node: evaluate the one child


def test_pool_as_failures_counts_a_broken_child_against_its_ancestors_at_no_cost() -> None:
    state = TreeState(TASKS[:3])
    state.add_node(1, None)
    state.add_node(2, 1)
    state.add_node(3, 2, kind=Kind.BUILDING)
    state.finish_node(3, Kind.BROKEN)
    hgm = make_policy("hgm", invalid_children="pool_as_failures", invalid_failures=2)
    state.pool_failures(3, hgm.pooled_failures())
    assert state.counts(1) == (0, 0, 0, 2) and state.counts(2) == (0, 0, 0, 2)
    assert state.finished_evaluations == 0 and state.dispatched_evaluations == 0
    assert make_policy("hgm").pooled_failures() == 0
    rebuilt = TreeState.from_rows(TASKS[:3], [(1, None, Kind.VALID), (2, 1, Kind.VALID), (3, 2, Kind.BROKEN)], [],
                                  pooled_failures=2)
    assert rebuilt.counts(1) == state.counts(1)


def test_dgm_preset_works_in_generations() -> None:
    dgm = make_policy("dgm", stage_sizes=[(2, 0.0)])  # generation_size 2, as DGM's selfimprove_size
    rng, budget = np.random.default_rng(5), Budget(100)
    state = TreeState(TASKS[:2])
    state.add_node(1, None)
    for task in TASKS[:2]:
        state.record(1, task, True)
    for node_id in (2, 3):  # one generation: two parents drawn at once
        assert dgm.next_action(state, rng, budget) == Expand(1)
        state.add_node(node_id, 1, kind=Kind.BUILDING)
    assert dgm.next_action(state, rng, budget) is None
    state.finish_node(2, Kind.VALID)
    state.finish_node(3, Kind.FAILED)
    assert dgm.next_action(state, rng, budget) == Evaluate(2, "t0")  # the generation is evaluated first
    state.start(2, "t0")
    assert dgm.next_action(state, rng, budget) == Evaluate(2, "t1")
    state.start(2, "t1")
    assert dgm.next_action(state, rng, budget) is None  # then the next generation starts
    state.record(2, "t0", True)
    state.record(2, "t1", False)
    assert isinstance(dgm.next_action(state, rng, budget), Expand)


def _sica_base(results: list[list[int]]) -> int:
    """SICA's `select_base_agent` (runner.py) over iterations 0..n-1 with their per-problem
    scores: the best mean (first on ties, pandas' idxmax), its lower bound mean - 1.96 * sd / sqrt(n)
    with pandas' sample sd (ddof 1; NaN for one score), then from the latest iteration back to
    the best, the first whose mean clears the bound, else the best."""
    means = [sum(r) / len(r) for r in results]
    best = max(range(len(results)), key=lambda i: (means[i], -i))
    n = len(results[best])
    sd = float(np.std(results[best], ddof=1)) if n > 1 else math.nan
    lower = means[best] - 1.96 * sd / math.sqrt(n)
    for i in range(len(results) - 1, -1, -1):
        if means[i] >= lower:  # False against NaN
            return i
        if i <= best:
            return best
    return 0


def test_sica_preset_picks_sica_s_base_agent() -> None:
    """SICA's rule is deterministic: the same base on every tree, including trees where the
    sample sd and the binomial one disagree (and a best with a single score)."""
    rng = np.random.default_rng(11)
    sica = make_policy("sica", eval_tasks=1)  # every node below has run its one staged task: choose a base
    trees = [[[1] * 7 + [0] * 3, [1] * 4 + [0] * 6],
             [[1]], [[1], [0]], [[0, 1], [1, 1], [0, 0]]]
    trees += [[list(rng.integers(0, 2, int(rng.integers(1, 12)))) for _ in range(int(rng.integers(1, 8)))]
              for _ in range(300)]
    differs = 0
    for results in trees:
        state = TreeState([f"t{i}" for i in range(12)])
        for i, scores in enumerate(results):
            state.add_node(i, None if i == 0 else i - 1)
            for t, score in enumerate(scores):
                state.record(i, f"t{t}", bool(score))
        expected = _sica_base(results)
        assert sica.next_action(state, rng, Budget(1000)) == Expand(expected), results
        means = [sum(r) / len(r) for r in results]
        best = int(np.argmax(means))
        n = len(results[best])
        binomial_lower = means[best] - 1.96 * math.sqrt(means[best] * (1 - means[best]) / n)
        differs += max(i for i, m in enumerate(means) if m >= binomial_lower) != expected
    assert differs > 0  # the binomial sd (Clade's earlier rule) picks another base on some of these trees
