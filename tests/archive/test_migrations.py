"""A database made by the first schema upgrades to the current one without loss."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from archive import CladeHome, Outcome, open_archive
from archive.db import current_revision, head_revision, make_engine, upgrade

FIRST_SCHEMA = "0001"


def _fill_first_schema(url: str) -> None:
    """Rows written the way version 0001 of Clade wrote them (no `attempt`)."""
    engine = make_engine(url)
    upgrade(engine, FIRST_SCHEMA)
    assert "attempt" not in {c["name"] for c in inspect(engine).get_columns("evaluations")}
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO runs (id, name, config, status, nodes_count, evaluations_count, llm_calls_count, prompt_tokens,"
            " completion_tokens, cost_usd, last_event_seq, created_at, updated_at)"
            " VALUES (1, 'old run', '{\"policy\": \"dgm\"}', 'finished', 2, 3, 1, 10, 5, 0.5, 1, :t, :t)"
        ), {"t": now})
        conn.execute(text(
            "INSERT INTO nodes (id, run_id, parent_id, \"commit\", status, entry_task, proposal, created_at, updated_at)"
            " VALUES (1, 1, NULL, 'abc', 'valid', NULL, NULL, :t, :t),"
            " (2, 1, 1, 'def', 'valid', 'task-a', '{\"summary\": \"retry edits\"}', :t, :t)"
        ), {"t": now})
        for i, (node, task, outcome) in enumerate([(1, "task-a", "unresolved"), (2, "task-a", "resolved"), (2, "task-b", "resolved")]):
            conn.execute(text(
                "INSERT INTO evaluations (id, run_id, node_id, task_id, outcome, prompt_tokens, completion_tokens,"
                " cost_usd, created_at) VALUES (:id, 1, :node, :task, :outcome, 0, 0, 0, :t)"
            ), {"id": i + 1, "node": node, "task": task, "outcome": outcome, "t": now})
        conn.execute(text(
            "INSERT INTO llm_calls (id, run_id, node_id, model, prompt_tokens, completion_tokens, cost_usd, created_at)"
            " VALUES (1, 1, 2, 'hosted_vllm/x', 10, 5, 0.5, :t)"
        ), {"t": now})
        conn.execute(text(
            "INSERT INTO events (id, run_id, seq, kind, payload, created_at) VALUES (1, 1, 1, 'run_finished', '{}', :t)"
        ), {"t": now})
        if engine.dialect.name == "postgresql":  # ids were given explicitly: move the sequences on
            for table in ("runs", "nodes", "evaluations", "llm_calls", "events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    assert current_revision(engine) == FIRST_SCHEMA
    engine.dispose()


def test_first_schema_upgrades_without_loss(database_url: str, clade_home: CladeHome) -> None:
    _fill_first_schema(database_url)

    archive = open_archive(clade_home)  # upgrades automatically
    try:
        assert current_revision(archive.db.engine) == head_revision() != FIRST_SCHEMA
        run = archive.repo.get_run(1)
        assert (run.name, run.config, run.nodes_count, run.prompt_tokens) == ("old run", {"policy": "dgm"}, 2, 10)
        child = archive.repo.get_node(2)
        assert (child.parent_id, child.entry_task, child.proposal) == (1, "task-a", {"summary": "retry edits"})
        evaluations = archive.repo.node_evaluations(2)
        assert [(e.task_id, e.attempt, e.outcome) for e in evaluations] == [
            ("task-a", 0, Outcome.RESOLVED),
            ("task-b", 0, Outcome.RESOLVED),
        ]
        tree = archive.repo.tree(1)
        assert (tree[1].clade_resolved, tree[1].clade_total) == (2, 3)
        assert [e.kind for e in archive.repo.events_since(1)] == ["run_finished"]
        assert archive.repo.llm_calls(run_id=1)[0].model == "hosted_vllm/x"
        # The new schema's rule holds for old rows too, and new ids follow old ones.
        with pytest.raises(IntegrityError):
            archive.repo.start_evaluation(2, "task-a")
        assert archive.repo.start_evaluation(2, "task-a", attempt=1).id > 3
        assert archive.repo.append_event(1, "resumed").seq == 2
    finally:
        archive.close()


def test_opening_a_current_database_changes_nothing(database_url: str, clade_home: CladeHome) -> None:
    first = open_archive(clade_home)
    run = first.repo.create_run("r", {})
    first.close()
    second = open_archive(clade_home)
    assert current_revision(second.db.engine) == head_revision()
    assert [r.id for r in second.repo.list_runs()] == [run.id]
    second.close()
