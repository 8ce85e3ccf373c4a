"""A run's tree with own and clade counts, computed in one pass.

The clade of a node is the node and all its descendants; its counts are the
node's own results pooled with every descendant's (HGM's clade-
metaproductivity). They are sums of integers, never shared lists: HGM's
public code extended a node's own result list in place and so corrupted it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class TreeNode:
    id: int
    parent_id: int | None
    status: str
    commit: str | None
    own_resolved: int = 0
    own_total: int = 0
    clade_resolved: int = 0
    clade_total: int = 0
    # Grades the grader refused (outcome tampered): failures, counted apart
    # so that a cheating lineage shows as one.
    own_tampered: int = 0
    clade_tampered: int = 0
    depth: int = 0
    children: list[int] = field(default_factory=list)

    @property
    def own_score(self) -> float | None:
        return self.own_resolved / self.own_total if self.own_total else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["own_score"] = self.own_score
        return data


def build_tree(nodes: Iterable[TreeNode]) -> dict[int, TreeNode]:
    """Link children to parents, set depths and clade counts (own counts must
    already be set). Returns the nodes by id in breadth-first order."""
    by_id = {node.id: node for node in nodes}
    roots: list[TreeNode] = []
    for node in by_id.values():
        node.children.clear()
    for node in by_id.values():
        parent = by_id.get(node.parent_id) if node.parent_id is not None else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node.id)
    order: list[TreeNode] = []
    for root in roots:
        root.depth = 0
        order.append(root)
    index = 0
    while index < len(order):  # breadth-first: every parent before its children
        node = order[index]
        index += 1
        for child_id in node.children:
            child = by_id[child_id]
            child.depth = node.depth + 1
            order.append(child)
    for node in reversed(order):  # children before parents: sums bubble up
        node.clade_resolved = node.own_resolved + sum(by_id[c].clade_resolved for c in node.children)
        node.clade_total = node.own_total + sum(by_id[c].clade_total for c in node.children)
        node.clade_tampered = node.own_tampered + sum(by_id[c].clade_tampered for c in node.children)
    return {node.id: node for node in order}
