"""Taking an agent home: a node's code as `.tar.gz` with a lineage manifest,
or its history as a git bundle.

Files are written next to the destination and renamed into place at the
end, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from archive import Archive
from archive.errors import CladeError, NotFound
from archive.models import Node, utcnow
from archive.serialize import node_dict, timestamp

MANIFEST_NAME = "clade-lineage.json"
README_NAME = "README.md"
# The agent contract's command line (evaluator/contract.py agent_argv, which the archive may not import;
# tests/api/test_export_readme.py keeps the two equal).
RUN_COMMAND = "python3 -m agent --problem PROBLEM.md --repo REPO --out OUT"
MANIFEST_FORMAT = "clade-lineage/1"
ExportFormat = Literal["tar.gz", "bundle"]


def lineage_manifest(archive: Archive, node_id: int) -> dict[str, Any]:
    """Who the node descends from, why each ancestor exists, how each scored."""
    chain = archive.repo.lineage(node_id)
    counts = archive.repo.node_counts([n.id for n in chain])
    tampered = archive.repo.tampered_counts([n.id for n in chain])
    run = archive.repo.get_run(chain[-1].run_id)

    def describe(node: Node) -> dict[str, Any]:
        return node_dict(node, *counts[node.id], tampered[node.id])

    config = run.config or {}
    models = (config.get("models") or {}).get("backends") or []
    return {
        "format": MANIFEST_FORMAT,
        "run": {"id": run.id, "name": run.name, "config": config,
                "models": [backend.get("model") for backend in models if isinstance(backend, dict)],
                "search": archive.repo.search_conventions(run.id)},
        "node": describe(chain[-1]),
        "results": [{"task_id": e.task_id, "outcome": e.outcome.value if e.outcome else None, "reason": e.reason}
                    for e in archive.repo.node_evaluations(node_id)],
        "ancestors": [describe(n) for n in chain[:-1]],
        "exported_at": timestamp(utcnow()),
    }


def export_readme(manifest: dict[str, Any]) -> str:
    """README.md of an exported agent: what it is and how to run it by hand, outside Clade."""
    node, run = manifest["node"], manifest["run"]
    score = f"{node['own_resolved']}/{node['own_total']} tasks resolved" if node.get("own_total") else "not evaluated"
    models = ", ".join(m for m in run.get("models") or [] if m) or "the run's model"
    seed = ((run.get("config") or {}).get("agent") or {}).get("seed") or "clade"
    needs = ("the seed agent uses the standard library only" if seed == "clade" else
             f"it grew from {seed}'s code behind Clade's adapter, so it needs {seed}'s Python packages first "
             "(Clade pins them in evaluator/agents_image.lock)")
    return f"""# Clade agent: run {run['id']} ({run['name']}), node {node['id']}

A coding agent grown by Clade: {score} in its run, {len(manifest['ancestors'])} ancestors
(`{MANIFEST_NAME}` says who they are, why each exists and how each scored).

## Run it

It needs Python 3.11 and git; {needs}.
It works on a git repository, is told the task in a file, and talks to an
OpenAI-compatible endpoint (the run used {models}):

```bash
export CLADE_LLM_BASE_URL=http://127.0.0.1:8000/v1   # any OpenAI-compatible /v1 (http://, https://, http+unix://)
export CLADE_MODEL=MODEL_NAME                        # the model name that endpoint serves
export CLADE_LLM_TOKEN=API_KEY                       # sent as the bearer token (may be empty for a local server)
{RUN_COMMAND}
```

(run it from this folder, so that `agent` is this agent's package). PROBLEM.md
is the task statement, REPO a git repository at the commit to fix, OUT a
folder it writes `patch.diff` (the change, against REPO's commit),
`trajectory.jsonl` (every message and tool call) and `summary.json` into.
Add `--self-improve` to have it work on its own code (REPO = a copy of this
folder under git). Limits: `CLADE_AGENT_MAX_STEPS`, `CLADE_AGENT_MAX_TOKENS`,
`CLADE_AGENT_MAX_SECONDS`, `CLADE_AGENT_MAX_ANSWER_TOKENS`.

The agent's code was written by a model: run it in a sandbox (a container
without your keys or network beyond the model endpoint), as Clade does.
"""


@contextmanager
def _atomic_destination(dest: Path) -> Iterator[Path]:
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise CladeError(f"cannot write {dest}: the folder {folder} does not exist; create it or choose another -o")
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=folder)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def export_node(archive: Archive, node_id: int, dest: Path, fmt: ExportFormat = "tar.gz") -> Path:
    node = archive.repo.get_node(node_id)
    if node.commit is None:
        raise NotFound(f"node {node_id} has no code yet (status {node.status.value}): export a built node")
    store = archive.code_store(node.run_id)
    if fmt == "bundle":
        with _atomic_destination(dest) as tmp:
            tmp.unlink()  # git bundle refuses to overwrite
            store.bundle(tmp, [node_id])
        return dest
    if fmt != "tar.gz":
        raise CladeError(f"unknown export format {fmt!r}: use tar.gz or bundle")
    lineage = lineage_manifest(archive, node_id)
    manifest = json.dumps(lineage, indent=2).encode()
    readme = export_readme(lineage).encode()
    with tempfile.TemporaryDirectory(prefix="clade-export-") as code_dir, _atomic_destination(dest) as tmp:
        store.materialize(node.commit, Path(code_dir))
        with tarfile.open(tmp, "w:gz") as tar:
            for path in sorted(Path(code_dir).iterdir()):
                tar.add(path, arcname=path.name)
            for name, data in ((MANIFEST_NAME, manifest), (README_NAME, readme)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(utcnow().timestamp())
                tar.addfile(info, io.BytesIO(data))
    return dest
