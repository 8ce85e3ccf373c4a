"""Concurrent writers from worker threads lose nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from archive import Archive, Outcome

THREADS = 8
PER_THREAD = 25


def test_eight_threads_insert_without_loss(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("concurrent", {}, seed_agent)

    def worker(thread: int) -> list[int]:
        made = []
        for i in range(PER_THREAD):
            node = archive.repo.add_node(run.id, root.id, commit=root.commit)
            evaluation = archive.repo.start_evaluation(node.id, f"t{thread}-{i}")
            archive.repo.finish_evaluation(evaluation.id, Outcome.RESOLVED if i % 2 else Outcome.UNRESOLVED)
            archive.repo.record_llm_call(model="m", run_id=run.id, node_id=node.id, prompt_tokens=3, completion_tokens=1)
            archive.repo.append_event(run.id, "node_added", {"thread": thread, "i": i})
            made.append(node.id)
        return made

    with ThreadPoolExecutor(THREADS) as pool:
        made = [node_id for ids in pool.map(worker, range(THREADS)) for node_id in ids]

    total = THREADS * PER_THREAD
    assert len(set(made)) == total
    final = archive.repo.get_run(run.id)
    assert final.nodes_count == total + 1
    assert final.evaluations_count == total
    assert (final.llm_calls_count, final.prompt_tokens, final.completion_tokens) == (total, 3 * total, total)
    tree = archive.repo.tree(run.id)
    assert len(tree) == total + 1
    assert (tree[root.id].clade_resolved, tree[root.id].clade_total) == (THREADS * (PER_THREAD // 2), total)
    events = archive.repo.events_since(run.id, limit=10 * total)
    assert [e.seq for e in events] == list(range(1, total + 1))
    assert sorted((e.payload["thread"], e.payload["i"]) for e in events) == [
        (t, i) for t in range(THREADS) for i in range(PER_THREAD)
    ]
