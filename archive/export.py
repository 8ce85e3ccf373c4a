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
    manifest = json.dumps(lineage_manifest(archive, node_id), indent=2).encode()
    with tempfile.TemporaryDirectory(prefix="clade-export-") as code_dir, _atomic_destination(dest) as tmp:
        store.materialize(node.commit, Path(code_dir))
        with tarfile.open(tmp, "w:gz") as tar:
            for path in sorted(Path(code_dir).iterdir()):
                tar.add(path, arcname=path.name)
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(manifest)
            info.mtime = int(utcnow().timestamp())
            tar.addfile(info, io.BytesIO(manifest))
    return dest
