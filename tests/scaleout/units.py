"""Small units for the executor tests (importable by Ray workers, like evolve.units'),
declaring what a unit must (evolve.units.Unit): a version, a name, its model
access's socket and the driver folders it names."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from evaluator.contract import ModelAccess
from evaluator.task import Task
from evolve.expansion import gateway_chat
from evolve.ray_executor import worker_info
from evolve.units import UNIT_VERSION
from sandbox.errors import DockerUnavailable


@dataclass
class ChatUnit:
    """Shaped like a real unit: model access, a task and a prompts folder."""

    node_id: int
    access: ModelAccess
    text: str = ""
    task: Task | None = None
    prompts_dir: str | None = None
    number: float = 0.0
    version: int = UNIT_VERSION

    @property
    def name(self) -> str:
        return f"clade-test-{self.node_id}"

    def at_socket(self, socket_path: str) -> Self:
        return dataclasses.replace(self, access=self.access.at(socket_path))

    def folders(self) -> dict[str, str]:
        found = {"prompts": self.prompts_dir} if self.prompts_dir else {}
        if self.task is not None and self.task.source_dir is not None:
            found["task"] = str(self.task.source_dir)
        return found

    def with_folders(self, folders: dict[str, str]) -> Self:
        task = self.task
        if "task" in folders and task is not None:
            task = task.model_copy(update={"source_dir": Path(folders["task"])})
        return dataclasses.replace(self, task=task, prompts_dir=folders.get("prompts", self.prompts_dir))


def unit(node_id: int = 1, number: float = 0.0, **fields: object) -> ChatUnit:
    return ChatUnit(node_id, ModelAccess("/nowhere", "local", "t"), number=number, **fields)  # type: ignore[arg-type]


def chat(unit: ChatUnit) -> dict:
    ask = gateway_chat(unit.access, max_tokens=64, timeout=60)
    answer = ask([{"role": "user", "content": unit.text}])
    return {"answer": answer, "socket_path": unit.access.socket_path, "pid": os.getpid()}


def where(unit: ChatUnit) -> dict:
    return worker_info()


def inverse(unit: ChatUnit) -> float:
    return 1 / unit.number


def look(unit: ChatUnit) -> dict:
    """What the worker sees of the files that travelled with the unit."""
    source = Path(unit.task.source_dir) if unit.task and unit.task.source_dir else None
    prompts = Path(unit.prompts_dir) if unit.prompts_dir else None
    return {
        "source_dir": str(source) if source else None,
        "source_files": sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()) if source else [],
        "readme": (source / "README.md").read_text() if source else None,
        "prompts": {p.name: p.read_text() for p in prompts.iterdir()} if prompts else {},
        "pid": os.getpid(),
    }


def docker_down(unit: object) -> None:
    raise DockerUnavailable("no Docker engine on this worker (test)")
