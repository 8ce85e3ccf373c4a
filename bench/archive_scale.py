"""How fast the archive hands over a whole tree with per-node counts.

Inserts a 10 000-node tree with 100 000 finished evaluations into a fresh
archive (SQLite under a temporary CLADE_HOME unless --database-url is given),
then times `ArchiveRepository.tree()` — every node with own and clade counts
(`archive.tree.tree_columns`, turned into one `TreeNode` per node) — against
a plain SELECT of the same node and evaluation rows, measured in the same
run. Target: the tree with counts in under 0.5 s on a 2-core machine.

    python bench/archive_scale.py [--nodes 10000] [--evaluations 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, update

from archive import CladeHome, open_archive
from archive.models import Evaluation, Node, NodeStatus, Outcome, Run, utcnow


def populate(archive, nodes: int, evaluations: int, seed: int = 0) -> int:
    """A random recursive tree (each node's parent an earlier node) with
    evaluations spread evenly over its nodes; bulk inserts, one transaction."""
    rng = random.Random(seed)
    run = archive.repo.create_run("archive-scale bench", {})
    now = utcnow()
    ids: list[int] = []
    with archive.db.session() as s:
        for i in range(nodes):
            parent = ids[rng.randrange(i)] if i else None
            row = {"run_id": run.id, "parent_id": parent, "status": NodeStatus.VALID, "commit": f"{i:040x}",
                   "created_at": now, "updated_at": now}
            ids.append(s.execute(insert(Node).returning(Node.id), row).scalar_one())
        outcomes = [Outcome.RESOLVED, Outcome.UNRESOLVED, Outcome.UNRESOLVED, Outcome.ERROR]
        s.execute(
            insert(Evaluation),
            [
                {"run_id": run.id, "node_id": ids[k % nodes], "task_id": f"task-{k // nodes}",
                 "outcome": rng.choice(outcomes), "created_at": now}
                for k in range(evaluations)
            ],
        )
        s.execute(update(Run).where(Run.id == run.id).values(nodes_count=nodes, evaluations_count=evaluations))
    return run.id


def plain_select(archive, run_id: int) -> int:
    """The baseline: the same node and evaluation rows, fetched with no work on them."""
    with archive.db.engine.connect() as conn:
        node_rows = conn.execute(
            select(Node.id, Node.parent_id, Node.status, Node.commit).where(Node.run_id == run_id)
        ).all()
        eval_rows = conn.execute(select(Evaluation.node_id, Evaluation.outcome).where(Evaluation.run_id == run_id)).all()
    return len(node_rows) + len(eval_rows)


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--database-url", help="default: SQLite in a temporary CLADE_HOME")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clade-bench-") as tmp:
        home = CladeHome(Path(tmp))
        if args.database_url:
            import os

            os.environ["CLADE_DATABASE_URL"] = args.database_url
        archive = open_archive(home)
        start = time.perf_counter()
        run_id = populate(archive, args.nodes, args.evaluations)
        insert_s = time.perf_counter() - start

        tree = archive.repo.tree(run_id)
        root = next(n for n in tree.values() if n.parent_id is None)
        assert len(tree) == args.nodes and root.clade_total == args.evaluations, "the tree lost rows"

        tree_times = timed(lambda: archive.repo.tree(run_id), args.repeats)
        select_times = timed(lambda: plain_select(archive, run_id), args.repeats)
        archive.close()

    tree_s, select_s = statistics.median(tree_times), statistics.median(select_times)
    result = {
        "database": archive.db.engine.dialect.name,
        "nodes": args.nodes,
        "evaluations": args.evaluations,
        "insert_s": round(insert_s, 3),
        "tree_with_counts_median_s": round(tree_s, 4),
        "plain_select_median_s": round(select_s, 4),
        "ratio_vs_plain_select": round(tree_s / select_s, 3),
        "target_s": 0.5,
        "meets_target": tree_s < 0.5,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['database']}: {args.nodes} nodes, {args.evaluations} evaluations (inserted in {insert_s:.1f} s)")
    print(f"  tree with own + clade counts : {tree_s * 1000:8.1f} ms (median of {args.repeats})")
    print(f"  plain SELECT of the same rows: {select_s * 1000:8.1f} ms")
    print(f"  ratio                        : {tree_s / select_s:8.2f}x   target < 0.5 s: {'met' if tree_s < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
