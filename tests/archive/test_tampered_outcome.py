"""The `tampered` outcome in the archive, on real SQLite and PostgreSQL: it
is stored and read back with no migration (a VARCHAR(16), no native enum,
no CHECK), counted as a failure in every total, and counted apart."""

from __future__ import annotations

from sqlalchemy import inspect, text

from archive import Archive, CladeHome, Outcome, open_archive
from archive.db import make_engine, upgrade
from archive.export import lineage_manifest

EVIDENCE = {"tampering": {"rule": "canary", "detail": "a canary that must fail passed"},
            "set_aside": ["tests/test_lru.py", "conftest.py"]}


def test_tampered_is_stored_read_back_and_counted_as_a_failure(archive: Archive, seed_agent) -> None:
    """root ─ a        root: R, tampered     a: tampered, tampered, U"""
    run, root = archive.create_run("tampered", {}, seed_agent)
    a = archive.repo.add_node(run.id, root.id, commit=root.commit)
    results = {root.id: [Outcome.RESOLVED, Outcome.TAMPERED],
               a.id: [Outcome.TAMPERED, Outcome.TAMPERED, Outcome.UNRESOLVED]}
    for node_id, outcomes in results.items():
        for i, outcome in enumerate(outcomes):
            evaluation = archive.repo.start_evaluation(node_id, f"task-{i}")
            archive.repo.finish_evaluation(evaluation.id, outcome, reason="forged" if outcome == Outcome.TAMPERED
                                           else None, details=EVIDENCE if outcome == Outcome.TAMPERED else None)
    archive.repo.start_evaluation(a.id, "still-running")

    stored = archive.repo.node_evaluations(a.id)
    assert [e.outcome for e in stored] == [Outcome.TAMPERED, Outcome.TAMPERED, Outcome.UNRESOLVED, None]
    assert stored[0].details["tampering"] == EVIDENCE["tampering"]
    with archive.db.engine.connect() as conn:  # the column holds the plain string
        raw = conn.execute(text("SELECT outcome FROM evaluations WHERE node_id = :n ORDER BY id"), {"n": a.id})
        assert [row[0] for row in raw] == ["tampered", "tampered", "unresolved", None]

    tree = archive.repo.tree(run.id)
    assert (tree[a.id].own_resolved, tree[a.id].own_total, tree[a.id].own_tampered) == (0, 3, 2)
    assert (tree[root.id].own_resolved, tree[root.id].own_total, tree[root.id].own_tampered) == (1, 2, 1)
    assert (tree[root.id].clade_resolved, tree[root.id].clade_total, tree[root.id].clade_tampered) == (1, 5, 3)
    assert archive.repo.node_counts([root.id, a.id]) == {root.id: (1, 2), a.id: (0, 3)}
    assert archive.repo.tampered_counts([root.id, a.id]) == {root.id: 1, a.id: 2}
    assert archive.repo.outcome_counts(run_id=run.id) == {
        "resolved": 1, "unresolved": 1, "error": 0, "timeout": 0, "tampered": 3}
    assert archive.repo.outcome_counts(node_id=a.id)["tampered"] == 2

    manifest = lineage_manifest(archive, a.id)  # an exported agent says it cheated
    assert manifest["node"]["own_tampered"] == 2 and manifest["ancestors"][0]["own_tampered"] == 1


def test_a_database_of_the_first_schema_takes_tampered_without_a_migration(
        database_url: str, clade_home: CladeHome) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    column = next(c for c in inspect(engine).get_columns("evaluations") if c["name"] == "outcome")
    assert column["type"].length == 16 >= len(Outcome.TAMPERED.value)
    assert inspect(engine).get_check_constraints("evaluations") == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (id, name, config, status, nodes_count, evaluations_count, llm_calls_count,"
                          " prompt_tokens, completion_tokens, cost_usd, last_event_seq, created_at, updated_at)"
                          " VALUES (1, 'old', '{}', 'finished', 1, 1, 0, 0, 0, 0, 0, :t, :t)"), {"t": "2026-01-01"})
        conn.execute(text("INSERT INTO nodes (id, run_id, status, created_at, updated_at)"
                          " VALUES (1, 1, 'valid', :t, :t)"), {"t": "2026-01-01"})
        conn.execute(text("INSERT INTO evaluations (id, run_id, node_id, task_id, outcome, prompt_tokens,"
                          " completion_tokens, cost_usd, created_at) VALUES (1, 1, 1, 't', 'tampered', 0, 0, 0, :t)"),
                     {"t": "2026-01-01"})
        if engine.dialect.name == "postgresql":
            for table in ("runs", "nodes", "evaluations"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1)"))
    engine.dispose()

    archive = open_archive(clade_home)  # upgrades to the current schema
    try:
        assert archive.repo.get_evaluation(1).outcome == Outcome.TAMPERED
        again = archive.repo.start_evaluation(1, "u")
        archive.repo.finish_evaluation(again.id, Outcome.TAMPERED, details=EVIDENCE)
        assert archive.repo.get_evaluation(again.id).outcome == Outcome.TAMPERED
        assert archive.repo.tree(1)[1].own_tampered == 2
    finally:
        archive.close()
