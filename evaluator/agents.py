"""Which agent solves the tasks: a reference agent or agent code.

* `gold` applies the task's reference solution (SWE-bench's gold patch,
  Polyglot's example solution): every sound task must be resolved by it.
* `noop` changes nothing: no sound task may be resolved by it.
* `seed` is the seed agent shipped with Clade (`agent/`).
* a node id (`12` or `node:12`) is that node's code from the archive;
* a path: a folder holding an `agent/` package that follows the contract,
  or a `.tar.gz` made by `clade export` (any agent, grown in Clade or not).
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
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archive.code_limits import CodeLimits, UnsafeCode, check_folder
from archive.codestore import IGNORED_NAMES
from evaluator.errors import AgentNotFound

if TYPE_CHECKING:
    from archive import Archive

REFERENCE_AGENTS = ("gold", "noop")
# Third-party agents Clade ships behind the contract: name -> the code root holding their agent/ entry.
# (evaluator.agents_image builds the image they run in; not imported here, so that
# `python -m evaluator.agents_image` is not imported twice.)
THIRD_PARTY_AGENTS = {"mini-swe-agent": Path(__file__).parent / "reference_agents" / "mini_swe_agent"}


@dataclass(frozen=True)
class AgentSpec:
    """An agent to evaluate. `code_root` holds the `agent/` package for code agents."""

    name: str
    code_root: Path | None = None
    node_id: int | None = None
    patches: Mapping[str, str] | None = None  # instance_id -> patch, for a patch agent
    # runs in the agents image (evaluator.agents_image: the task's image plus mini-swe-agent's packages)
    needs_agents_image: bool = False

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


def code_agent(code_root: Path, name: str | None = None, node_id: int | None = None, *,
               needs_agents_image: bool = False) -> AgentSpec:
    """An agent whose code is `code_root/agent` (a folder you prepared)."""
    if not (code_root / "agent" / "__main__.py").is_file():
        raise AgentNotFound(f"{code_root} holds no agent package (expected {code_root / 'agent' / '__main__.py'})")
    if name is None:  # a node's code sits in a temporary folder whose path means nothing later
        name = f"node:{node_id}" if node_id is not None else str(code_root)
    return AgentSpec(name, code_root=code_root, node_id=node_id, needs_agents_image=needs_agents_image)


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
    """`gold`, `noop`, `seed`, a node id (`12` / `node:12`) or a path (a folder
    holding `agent/`, or a `clade export` .tar.gz), as an AgentSpec.

    Code is copied into `workdir` (a new temporary folder when None, which
    the caller may delete after the evaluation).
    """
    if name in REFERENCE_AGENTS:
        return AgentSpec(name)
    dest = workdir or Path(tempfile.mkdtemp(prefix="clade-agent-"))
    if name == "seed":
        return AgentSpec("seed", code_root=write_agent_code(None, None, dest))
    if name in THIRD_PARTY_AGENTS:
        shutil.copytree(THIRD_PARTY_AGENTS[name], dest, ignore=shutil.ignore_patterns("__pycache__"),
                        dirs_exist_ok=True)
        return AgentSpec(name, code_root=dest, needs_agents_image=True)
    raw = name.removeprefix("node:")
    if not raw.isdigit() and ("/" in name or name.endswith((".tar.gz", ".tgz")) or Path(name).exists()):
        return code_agent(_agent_from_path(Path(name).expanduser(), dest), name=name)
    if not raw.isdigit():
        raise AgentNotFound(f"unknown agent {name!r}: use gold, noop, seed, mini-swe-agent, a node id (see `clade run "
                            "tree RUN`), or the path of a folder holding agent/ or of a `clade export` .tar.gz")
    if archive is None:
        raise AgentNotFound(f"agent {name!r} is a node id, but no archive is open to read its code from")
    node_id = int(raw)
    return code_agent(write_agent_code(archive, node_id, dest), name=f"node:{node_id}", node_id=node_id)


def _agent_from_path(path: Path, dest: Path) -> Path:
    """A code root in `dest` from a folder holding `agent/` or an exported .tar.gz.

    Code from elsewhere is untrusted like an agent's patch: an archive is
    unpacked only within the code limits (sizes summed before a byte is
    written, links and special files refused by tarfile's `data` filter)."""
    limits = CodeLimits(allow_binary=True)
    if path.is_dir():
        if not (path / "agent").is_dir():
            raise AgentNotFound(f"{path} holds no agent/ folder: give the folder that contains the agent package")
        shutil.copytree(path / "agent", dest / "agent", ignore=IGNORED_NAMES, dirs_exist_ok=True)
    elif path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            if sum(m.size for m in members) > limits.max_total_bytes or len(members) > limits.max_files:
                raise AgentNotFound(f"{path} unpacks to more than {limits.max_total_bytes} bytes or "
                                    f"{limits.max_files} files: it is not an agent's code")
            try:
                archive.extractall(dest, filter="data")
            except tarfile.TarError as exc:
                raise AgentNotFound(f"{path} cannot be unpacked safely ({exc}): export the agent again") from None
    else:
        raise AgentNotFound(f"{path} is neither a folder holding agent/ nor a .tar.gz made by `clade export`")
    try:
        check_folder(dest, limits)
    except UnsafeCode as exc:
        raise AgentNotFound(f"{path}: {exc}") from None
    return dest
