"""The archive: every run's tree, its evaluations and model calls (in SQL),
and every node's code (in git).

`open_archive()` is the one way in: it finds CLADE_HOME, opens (and
upgrades) the database, and hands out the code store of each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.code_limits import CodeLimits
from archive.codestore import CodeStore
from archive.db import Database, open_database
from archive.errors import CladeError, NotFound
from archive.home import CladeHome
from archive.models import Evaluation, Event, LLMCall, Node, NodeStatus, Outcome, Run, RunStatus
from archive.repository import ArchiveRepository
from archive.tree import TreeNode

__all__ = [
    "Archive",
    "ArchiveRepository",
    "CladeError",
    "CladeHome",
    "CodeStore",
    "Evaluation",
    "Event",
    "LLMCall",
    "Node",
    "NodeStatus",
    "NotFound",
    "Outcome",
    "Run",
    "RunStatus",
    "TreeNode",
    "open_archive",
]

SEED_PREFIX = "agent"


@dataclass
class Archive:
    home: CladeHome
    db: Database
    repo: ArchiveRepository

    def code_store(self, run_id: int) -> CodeStore:
        return CodeStore(self.home.code_store_path(run_id))

    def create_run(self, name: str, config: dict[str, Any], seed_dir: Path) -> tuple[Run, Node]:
        """A new run whose code store's root commit, and tree's root node,
        hold the seed agent found in `seed_dir`."""
        run = self.repo.create_run(name, config)
        store = CodeStore.create(self.home.code_store_path(run.id))
        commit = store.commit_folder(seed_dir, prefix=SEED_PREFIX, message=f"run {run.id}: seed agent")
        root = self.repo.add_node(run.id, None, commit=commit, status=NodeStatus.VALID)
        store.set_ref(root.id, commit)
        return self.repo.get_run(run.id), root

    def add_child(
        self,
        parent_id: int,
        patch: str,
        *,
        status: NodeStatus = NodeStatus.PROPOSED,
        entry_task: str | None = None,
        proposal: dict[str, Any] | None = None,
    ) -> Node:
        """Commit `patch` on the parent's code and record the child node.

        The patch is applied first: if it does not apply, neither the code
        store nor the database has been touched.
        """
        parent = self.repo.get_node(parent_id)
        if parent.commit is None:
            raise NotFound(f"node {parent_id} has no code yet (status {parent.status.value}): pick a built node")
        store = self.code_store(parent.run_id)
        summary = (proposal or {}).get("summary") or entry_task or "self-modification"
        commit = store.apply_patch(parent.commit, patch, message=f"child of node {parent_id}: {summary}")
        child = self.repo.add_node(
            parent.run_id, parent_id, commit=commit, status=status, entry_task=entry_task, proposal=proposal
        )
        store.set_ref(child.id, commit)
        return child

    def attach_patch(self, node_id: int, patch: str, limits: CodeLimits | None = None) -> Node:
        """Give a node row made before its code existed (an expansion in
        progress) its commit: the parent's code plus `patch`. Raises
        PatchDoesNotApply (or its UnsafeCode, when the code would break
        `limits`), with nothing written."""
        node = self.repo.get_node(node_id)
        if node.parent_id is None:
            raise NotFound(f"node {node_id} is a root: its code is the seed agent")
        parent = self.repo.get_node(node.parent_id)
        store = self.code_store(node.run_id)
        summary = (node.proposal or {}).get("improvement_proposal") or node.entry_task or "self-modification"
        commit = store.apply_patch(parent.commit, patch, message=f"node {node_id}, child of node {parent.id}: {summary}",
                                   limits=limits)
        store.set_ref(node_id, commit)
        return self.repo.update_node(node_id, commit=commit)

    def node_diff(self, node_id: int) -> str:
        """The node's change against its parent (the whole seed for a root)."""
        node = self.repo.get_node(node_id)
        if node.commit is None:
            raise NotFound(f"node {node_id} has no code yet (status {node.status.value}): nothing to diff")
        parent_commit = self.repo.get_node(node.parent_id).commit if node.parent_id is not None else None
        return self.code_store(node.run_id).diff(parent_commit, node.commit)

    def close(self) -> None:
        self.db.dispose()


def open_archive(home: CladeHome | None = None, *, migrate: bool = True) -> Archive:
    home = home or CladeHome.from_env()
    home.ensure_writable()  # code stores live here even when the database is PostgreSQL
    db = open_database(home.database_url, migrate=migrate)
    return Archive(home=home, db=db, repo=ArchiveRepository(db))
