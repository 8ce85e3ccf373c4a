"""The repository API on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from archive import Archive, NodeStatus, NotFound, Outcome, RunStatus


def test_run_lifecycle_and_counters(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("lifecycle", {"policy": "hgm", "budget": 10}, seed_agent)
    assert run.status == RunStatus.CREATED and run.config == {"policy": "hgm", "budget": 10}
    assert run.nodes_count == 1 and root.status == NodeStatus.VALID and root.parent_id is None

    running = archive.repo.set_run_status(run.id, RunStatus.RUNNING)
    assert running.started_at is not None and running.finished_at is None
    archive.repo.record_llm_call(model="m", run_id=run.id, node_id=root.id, prompt_tokens=100, completion_tokens=7, cost_usd=0.25)
    archive.repo.record_llm_call(model="m", run_id=run.id, prompt_tokens=1, completion_tokens=2, cost_usd=0.5, error="boom")
    finished = archive.repo.set_run_status(run.id, RunStatus.FINISHED)
    assert finished.finished_at is not None
    assert (finished.llm_calls_count, finished.prompt_tokens, finished.completion_tokens) == (2, 101, 9)
    assert finished.cost_usd == pytest.approx(0.75)
    assert [c.error for c in archive.repo.llm_calls(run_id=run.id)] == [None, "boom"]
    assert [r.id for r in archive.repo.list_runs()] == [run.id]


def test_tree_counts_on_a_hand_built_tree(archive: Archive, seed_agent) -> None:
    """root ─ a ─ c          own results: root 1/2, a 0/1, c 2/2, b 1/3
             └ b              clade(a) = a + c = 2/3; clade(root) = all = 4/8"""
    run, root = archive.create_run("tree", {}, seed_agent)
    a = archive.repo.add_node(run.id, root.id, commit=root.commit)
    b = archive.repo.add_node(run.id, root.id, commit=root.commit)
    c = archive.repo.add_node(run.id, a.id, commit=root.commit)
    results = {root.id: "RU", a.id: "U", c.id: "RR", b.id: "RUE"}
    codes = {"R": Outcome.RESOLVED, "U": Outcome.UNRESOLVED, "E": Outcome.ERROR}
    for node_id, outcomes in results.items():
        for i, code in enumerate(outcomes):
            evaluation = archive.repo.start_evaluation(node_id, f"task-{i}")
            archive.repo.finish_evaluation(evaluation.id, codes[code], duration_s=1.5)
    archive.repo.start_evaluation(c.id, "still-running")  # pending: not counted

    tree = archive.repo.tree(run.id)
    counts = {n: (t.own_resolved, t.own_total, t.clade_resolved, t.clade_total) for n, t in tree.items()}
    assert counts == {
        root.id: (1, 2, 4, 8),
        a.id: (0, 1, 2, 3),
        b.id: (1, 3, 1, 3),
        c.id: (2, 2, 2, 2),
    }
    assert tree[c.id].depth == 2 and sorted(tree[root.id].children) == [a.id, b.id]
    assert archive.repo.node_counts([c.id, b.id]) == {c.id: (2, 2), b.id: (1, 3)}
    assert [n.id for n in archive.repo.lineage(c.id)] == [root.id, a.id, c.id]
    assert archive.repo.get_run(run.id).evaluations_count == 9


def test_events_are_numbered_per_run_in_order(archive: Archive, seed_agent) -> None:
    run1, _ = archive.create_run("one", {}, seed_agent)
    run2, _ = archive.create_run("two", {}, seed_agent)
    for i in range(5):
        archive.repo.append_event(run1.id, "tick", {"i": i})
    archive.repo.append_event(run2.id, "other")
    events = archive.repo.events_since(run1.id)
    assert [(e.seq, e.payload["i"]) for e in events] == [(i + 1, i) for i in range(5)]
    assert [e.seq for e in archive.repo.events_since(run1.id, after_seq=3)] == [4, 5]
    assert [e.seq for e in archive.repo.events_since(run2.id)] == [1]


def test_an_evaluation_is_recorded_once_per_attempt(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("attempts", {}, seed_agent)
    archive.repo.start_evaluation(root.id, "t")
    archive.repo.start_evaluation(root.id, "t", attempt=1)
    with pytest.raises(IntegrityError):
        archive.repo.start_evaluation(root.id, "t")
    assert len(archive.repo.node_evaluations(root.id)) == 2


def test_unknown_ids_name_the_fix(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("ids", {}, seed_agent)
    with pytest.raises(NotFound, match=r"no node with id 999.*clade run tree"):
        archive.repo.get_node(999)
    with pytest.raises(NotFound, match=r"no run with id 42.*clade run list"):
        archive.repo.append_event(42, "x")
    with pytest.raises(NotFound, match="no evaluation with id 5"):
        archive.repo.finish_evaluation(5, Outcome.RESOLVED)
    other, _ = archive.create_run("other", {}, seed_agent)
    with pytest.raises(NotFound, match=f"belongs to run {run.id}"):
        archive.repo.add_node(other.id, root.id)
