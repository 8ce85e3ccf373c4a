"""Which agent solves the tasks: a reference agent or agent code.

* `gold` applies the task's reference solution (SWE-bench's gold patch,
  Polyglot's example solution): every sound task must be resolved by it.
* `noop` changes nothing: no sound task may be resolved by it.
* `seed` is the seed agent shipped with Clade (`agent/`).
* a node id (`12` or `node:12`) is that node's code from the archive.
* `patch_agent(name, patches)` answers precomputed patches (SWE-bench's
  predictions format, `clade eval --predictions`); a task it has no patch
  for gets an empty one.

Reference agents need neither a sandbox nor a model; code agents run in a
sandbox (`evaluator.task_run`) and reach the model through a `ModelAccess`
(`evaluator.contract`: socket, model name, token), fixed or issued per
evaluation by an `AccessIssuer`.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archive.codestore import IGNORED_NAMES
from evaluator.errors import AgentNotFound

if TYPE_CHECKING:
    from archive import Archive

REFERENCE_AGENTS = ("gold", "noop")


@dataclass(frozen=True)
class AgentSpec:
    """An agent to evaluate. `code_root` holds the `agent/` package for code agents."""

    name: str
    code_root: Path | None = None
    node_id: int | None = None
    patches: Mapping[str, str] | None = None  # instance_id -> patch, for a patch agent

    @property
    def is_reference(self) -> bool:
        """True when no code runs to solve a task: gold, noop, or precomputed patches."""
        return self.code_root is None and (self.name in REFERENCE_AGENTS or self.patches is not None)

    def fixed_patch(self, task_id: str, gold: str) -> str:
        """The patch a reference agent answers for a task."""
        if self.patches is not None:
            return self.patches.get(task_id, "")
        return gold if self.name == "gold" else ""


GOLD = AgentSpec("gold")
NOOP = AgentSpec("noop")


def patch_agent(name: str, patches: Mapping[str, str]) -> AgentSpec:
    """An agent that answers the given patch for each task id (and nothing for others)."""
    return AgentSpec(name, patches=dict(patches))


def seed_agent_dir() -> Path:
    """The `agent/` package shipped with Clade (found without importing it:
    the platform never runs agent code in its own process)."""
    spec = importlib.util.find_spec("agent")
    if spec is None or not spec.submodule_search_locations:
        raise AgentNotFound("the seed agent package `agent` is not installed: run `make install`")
    return Path(list(spec.submodule_search_locations)[0])


def code_agent(code_root: Path, name: str | None = None, node_id: int | None = None) -> AgentSpec:
    """An agent whose code is `code_root/agent` (a folder you prepared)."""
    if not (code_root / "agent" / "__main__.py").is_file():
        raise AgentNotFound(f"{code_root} holds no agent package (expected {code_root / 'agent' / '__main__.py'})")
    return AgentSpec(name or str(code_root), code_root=code_root, node_id=node_id)


def write_agent_code(archive: Archive | None, node_id: int | None, dest: Path) -> Path:
    """Write a code root (a folder holding `agent/`) for the node's agent, or
    for the seed agent when `node_id` is None; returns `dest`."""
    if node_id is None:
        shutil.copytree(seed_agent_dir(), dest / "agent", ignore=IGNORED_NAMES, dirs_exist_ok=True)
        return dest
    if archive is None:
        raise AgentNotFound(f"node {node_id}'s code is in an archive, but no archive is open to read it from")
    node = archive.repo.get_node(node_id)
    if node.commit is None:
        raise AgentNotFound(f"node {node_id} has no code yet (status {node.status.value}): pick a built node")
    return archive.code_store(node.run_id).materialize(node.commit, dest)


def resolve_agent(name: str, *, archive: Archive | None = None, workdir: Path | None = None) -> AgentSpec:
    """`gold`, `noop`, `seed` or a node id (`12` / `node:12`), as an AgentSpec.

    Code is copied into `workdir` (a new temporary folder when None, which
    the caller may delete after the evaluation).
    """
    if name in REFERENCE_AGENTS:
        return AgentSpec(name)
    dest = workdir or Path(tempfile.mkdtemp(prefix="clade-agent-"))
    if name == "seed":
        return AgentSpec("seed", code_root=write_agent_code(None, None, dest))
    raw = name.removeprefix("node:")
    if not raw.isdigit():
        raise AgentNotFound(f"unknown agent {name!r}: use gold, noop, seed or a node id (see `clade run tree RUN`)")
    if archive is None:
        raise AgentNotFound(f"agent {name!r} is a node id, but no archive is open to read its code from")
    node_id = int(raw)
    return code_agent(write_agent_code(archive, node_id, dest), name=f"node:{node_id}", node_id=node_id)
