"""`make demo`: what Clade can show today, on a fresh machine.

Until the evolution engine lands this starts a run from the seed agent in
the archive, adds two hand-made children, records a few evaluations, prints
the tree and exports the best node — the same calls the engine will make.
"""

from __future__ import annotations

import json
from pathlib import Path

from archive import Outcome, open_archive
from archive.export import export_node
from evolve.seed import seed_agent_dir


def main() -> None:
    archive = open_archive()
    run, root = archive.create_run("demo", {"note": "hand-made tree; the evolution engine is not built yet"}, seed_agent_dir())
    store = archive.code_store(run.id)
    print(f"run {run.id}: seed agent committed as node {root.id} ({root.commit[:12]}) in {store.path}")
    notes = ["Clade demo: a hand-made child.\n", "Clade demo: a grandchild.\n"]
    parent = root
    for depth, text in enumerate(notes, start=1):
        patch = f"--- /dev/null\n+++ b/agent/NOTES_{depth}.md\n@@ -0,0 +1 @@\n+{text}"
        parent = archive.add_child(parent.id, patch, proposal={"summary": text.strip()})
        for task in range(3):
            evaluation = archive.repo.start_evaluation(parent.id, f"demo-task-{task}")
            outcome = Outcome.RESOLVED if task < depth else Outcome.UNRESOLVED
            archive.repo.finish_evaluation(evaluation.id, outcome, duration_s=0.0, reason="demo outcome")
    tree = archive.repo.tree(run.id)
    print(json.dumps({"run_id": run.id, "nodes": [n.as_dict() for n in tree.values()]}, indent=2))
    best = max((n for n in tree.values() if n.own_total), key=lambda n: n.own_resolved / n.own_total)
    out = export_node(archive, best.id, Path.cwd() / f"clade-run{run.id}-node{best.id}.tar.gz")
    print(f"best node {best.id} exported to {out}")
    archive.close()


if __name__ == "__main__":
    main()
