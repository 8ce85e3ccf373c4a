"""The units of work a run is made of, as they cross a process or machine boundary.

A unit carries everything its worker needs (the code as a tarball, the
task, model access) and a result carries everything the driver records;
workers never touch the archive. That is what lets the same units run on
a local thread pool or on another machine (evolve.ray_executor).

What a unit depends on outside itself is declared, never guessed from its
fields: `version` (a worker running other code refuses it), `name`, the
gateway socket its model access goes through (`at_socket`), and the
driver folders it names (`folders` / `with_folders`: a task's files, a
prompts folder), which a remote executor ships and re-points.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from archive.code_limits import CodeLimits
from archive.errors import CladeError
from evaluator.contract import AgentLimits, ModelAccess
from evaluator.task_run import EvalOptions
from evaluator.task import Outcome, Task
from evolve.diagnosis import EntryMaterial
from evolve.entry import Entry
from sandbox.limits import SandboxLimits

# Bump when a unit's or a result's fields change meaning: a worker of
# another Clade version must refuse the unit rather than misread it.
UNIT_VERSION = 3


class UnitVersionMismatch(CladeError):
    """A worker got a unit made by another version of Clade."""


class Unit(Protocol):
    version: int

    @property
    def name(self) -> str: ...

    def at_socket(self, socket_path: str) -> Self: ...

    def folders(self) -> dict[str, str]: ...

    def with_folders(self, folders: dict[str, str]) -> Self: ...


def check_version(unit: Unit) -> None:
    if unit.version != UNIT_VERSION:
        raise UnitVersionMismatch(
            f"unit {unit.name} was made by a Clade whose units are version {unit.version}, this worker's are "
            f"{UNIT_VERSION}: install the same Clade on the driver and on every worker"
        )


def pack_code(code_root: Path) -> bytes:
    """A code root (the folder holding `agent/`) as gzipped tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(code_root.iterdir()):
            tar.add(path, arcname=path.name, filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


def unpack_code(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


@dataclass
class ExpandUnit:
    """Diagnose the entry, let the parent agent change its own code, validate the child."""

    run_id: int
    node_id: int
    parent_id: int
    parent_code: bytes
    entry: Entry
    material: EntryMaterial
    diagnosis: ModelAccess  # the worker's own call
    self_improve: ModelAccess  # the parent agent's, in its sandbox
    limits: SandboxLimits
    agent_limits: AgentLimits
    validation_seconds: float
    diagnosis_max_chars: int
    diagnosis_max_tokens: int = 1536
    prompts_dir: str | None = None
    code_limits: CodeLimits = field(default_factory=CodeLimits)
    in_agents_image: bool = False  # a run seeded with mini-swe-agent: its code needs the agents image's packages
    version: int = UNIT_VERSION

    @property
    def name(self) -> str:
        return f"clade-expand-{self.node_id}"

    def at_socket(self, socket_path: str) -> Self:
        return dataclasses.replace(self, diagnosis=self.diagnosis.at(socket_path),
                                   self_improve=self.self_improve.at(socket_path))

    def folders(self) -> dict[str, str]:
        return {"prompts": self.prompts_dir} if self.prompts_dir else {}

    def with_folders(self, folders: dict[str, str]) -> Self:
        return dataclasses.replace(self, prompts_dir=folders.get("prompts", self.prompts_dir))


@dataclass
class ExpandResult:
    node_id: int
    ok: bool
    stage: str  # where it ended: diagnosis, self_improve, patch, compile, tests, contract, passed
    reason: str
    patch: str = ""
    proposal: dict[str, Any] | None = None
    logs: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class EvaluateUnit:
    """A node's agent on one task; `options.model` is the evaluation's own access."""

    evaluation_id: int
    node_id: int
    task: Task
    agent_code: bytes
    options: EvalOptions
    in_agents_image: bool = False  # as ExpandUnit's
    version: int = UNIT_VERSION

    @property
    def name(self) -> str:
        return f"clade-evaluate-{self.evaluation_id}"

    def at_socket(self, socket_path: str) -> Self:
        access = self.options.model
        if not isinstance(access, ModelAccess):
            return self
        return dataclasses.replace(self, options=dataclasses.replace(self.options, model=access.at(socket_path)))

    def folders(self) -> dict[str, str]:
        return {"task": str(self.task.source_dir)} if self.task.source_dir is not None else {}

    def with_folders(self, folders: dict[str, str]) -> Self:
        if "task" not in folders:
            return self
        return dataclasses.replace(self, task=self.task.model_copy(update={"source_dir": Path(folders["task"])}))


@dataclass
class EvaluateResult:
    evaluation_id: int
    outcome: Outcome
    reason: str
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
