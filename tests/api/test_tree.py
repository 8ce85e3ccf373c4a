"""The one tree computation (archive.tree) against a naive recount from the
raw rows, and the API's leader against the engine's final-agent rule.

`ArchiveRepository.tree()` and the API's tree body both come from
`archive.tree.tree_columns`, so agreeing with each other proves nothing:
here the counts are recomputed the slow, obvious way (walk every
evaluation's node up to the root) and the leader is compared with
`evolve.final.best_belief` on the search's own `TreeState` of the same rows.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from api import queries
from archive import Archive, NodeStatus, NotFound, Outcome
from archive.tree import tree_columns
from evolve.final import best_belief
from evolve.grades import tree_state

FIELDS = ("own_resolved", "own_total", "own_tampered", "clade_resolved", "clade_total", "clade_tampered")


def random_run(archive: Archive, nodes: int = 60, evaluations: int = 400, seed: int = 0) -> int:
    """Every status and every outcome (pending ones too), parents drawn among earlier nodes."""
    rng = random.Random(seed)
    repo = archive.repo
    run = repo.create_run(f"tree-{seed}", {})
    ids: list[int] = []
    for i in range(nodes):
        status = rng.choice([NodeStatus.VALID] * 3 + list(NodeStatus)) if i else NodeStatus.VALID
        parent = rng.choice(ids) if ids else None
        ids.append(repo.add_node(run.id, parent, status=status, commit=f"{i:040x}").id)
    for k in range(evaluations):
        evaluation = repo.start_evaluation(rng.choice(ids), f"task-{k}")
        outcome = rng.choice([*Outcome, None])
        if outcome is not None:
            repo.finish_evaluation(evaluation.id, outcome)
    return run.id


def naive_counts(archive: Archive, run_id: int) -> dict[int, dict[str, int]]:
    """Own and clade counts by walking each finished evaluation's node up to the root."""
    parent = {n.id: n.parent_id for n in archive.repo.list_nodes(run_id)}
    counts: dict[int, dict[str, int]] = {node_id: defaultdict(int) for node_id in parent}
    for e in archive.repo.run_evaluations(run_id):
        if e.outcome is None:
            continue
        add = {"resolved": e.outcome == Outcome.RESOLVED, "total": 1, "tampered": e.outcome == Outcome.TAMPERED}
        for name, value in add.items():
            counts[e.node_id][f"own_{name}"] += value
        node_id = e.node_id
        while node_id is not None:
            for name, value in add.items():
                counts[node_id][f"clade_{name}"] += value
            node_id = parent[node_id]
    return counts


def naive_depth(parent: dict[int, int | None], node_id: int) -> int:
    depth = 0
    while parent[node_id] is not None:
        node_id, depth = parent[node_id], depth + 1
    return depth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_counts_match_a_naive_recount(archive: Archive, seed: int) -> None:
    run_id = random_run(archive, seed=seed)
    expected = naive_counts(archive, run_id)
    rows = {n.id: n for n in archive.repo.list_nodes(run_id)}
    parent = {node_id: n.parent_id for node_id, n in rows.items()}
    columns = tree_columns(archive.db, run_id, hint=queries.RUN_HINT)
    nodes = archive.repo.tree(run_id)
    assert list(nodes) == columns.id and sorted(columns.id) == sorted(rows)
    depths = [naive_depth(parent, node_id) for node_id in columns.id]
    assert depths == sorted(depths)  # breadth-first
    for i, node_id in enumerate(columns.id):
        node = nodes[node_id]
        assert {name: getattr(columns, name)[i] for name in FIELDS} == \
            {name: getattr(node, name) for name in FIELDS} == {name: expected[node_id][name] for name in FIELDS}
        assert columns.depth[i] == node.depth == depths[i]
        assert (node.parent_id, node.status, node.commit) == \
            (rows[node_id].parent_id, rows[node_id].status.value, rows[node_id].commit)
        assert node.children == sorted(c for c, p in parent.items() if p == node_id)
    assert columns.children_counts() == [len(nodes[node_id].children) for node_id in columns.id]


def test_an_unknown_run_names_the_fix_where_the_caller_is(archive: Archive) -> None:
    with pytest.raises(NotFound, match=r"no run with id 4242 .*clade run list"):
        archive.repo.tree(4242)
    with pytest.raises(NotFound, match=r"no run with id 4242 .*GET /api/runs"):
        tree_columns(archive.db, 4242, hint=queries.RUN_HINT)


def engine_choice(archive: Archive, run_id: int, quantile: float, min_evaluations: int) -> tuple | None:
    """The final agent as the engine picks it, from its own state of the same rows."""
    evaluations = archive.repo.run_evaluations(run_id)
    nodes = [(n.id, n.parent_id, n.status == NodeStatus.VALID) for n in archive.repo.list_nodes(run_id)]
    state = tree_state(sorted({e.task_id for e in evaluations}), nodes, evaluations)
    best = best_belief(state, quantile, min_evaluations)
    return (best.node_id, best.resolved, best.total) if best else None


@pytest.mark.parametrize("seed", [0, 3])
def test_the_leader_is_the_engines_final_rule(archive: Archive, seed: int) -> None:
    run_id = random_run(archive, seed=seed)
    columns = tree_columns(archive.db, run_id, hint=queries.RUN_HINT)
    for quantile in (0.05, 0.5):
        for min_evaluations in (1, 5, 100):
            assert queries.leader(columns, quantile, min_evaluations) == \
                engine_choice(archive, run_id, quantile, min_evaluations)


def test_a_tie_goes_to_the_node_the_engine_would_ship(archive: Archive) -> None:
    """Equal counts: the earlier node wins, as in the engine's state, even
    where breadth-first order would put the other one first."""
    repo = archive.repo
    run = repo.create_run("tie", {})
    root = repo.add_node(run.id, None, status=NodeStatus.VALID).id
    child = repo.add_node(run.id, root, status=NodeStatus.VALID).id
    grandchild = repo.add_node(run.id, child, status=NodeStatus.VALID).id
    late_child = repo.add_node(run.id, root, status=NodeStatus.VALID).id
    for node_id, outcomes in ((root, "ru"), (child, "ruu"), (grandchild, "rrrru"), (late_child, "rrrru")):
        for k, letter in enumerate(outcomes):
            evaluation = repo.start_evaluation(node_id, f"task-{k}")
            repo.finish_evaluation(evaluation.id, Outcome.RESOLVED if letter == "r" else Outcome.UNRESOLVED)
    columns = tree_columns(archive.db, run.id, hint=queries.RUN_HINT)
    assert columns.index_of(late_child) < columns.index_of(grandchild)  # breadth-first puts it first
    assert queries.leader(columns, 0.05, 1) == engine_choice(archive, run.id, 0.05, 1) == (grandchild, 4, 5)
