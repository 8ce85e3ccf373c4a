"""Where the seed agent's code is, and how to get any node's code on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from archive import Archive
from archive.codestore import IGNORED_NAMES
from archive.errors import NotFound
from evaluator.agents import seed_agent_dir

__all__ = ["agent_code", "seed_agent_dir"]


def agent_code(archive: Archive | None, node_id: int | None, dest: Path) -> Path:
    """Write a code root (a folder holding `agent/`) for the node, or for the
    seed agent when `node_id` is None; returns `dest`."""
    if node_id is None:
        shutil.copytree(seed_agent_dir(), dest / "agent", ignore=IGNORED_NAMES)
        return dest
    assert archive is not None
    node = archive.repo.get_node(node_id)
    if node.commit is None:
        raise NotFound(f"node {node_id} has no code yet (status {node.status.value}): pick a built node")
    return archive.code_store(node.run_id).materialize(node.commit, dest)
