"""Small units for the executor tests (importable by Ray workers, like evolve.work's)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evaluator.task import Task
from evolve.work import gateway_chat
from sandbox.errors import DockerUnavailable


@dataclass
class ChatUnit:
    """Shaped like a real unit: a gateway socket path, a token, a task and a prompts folder."""

    node_id: int
    socket_path: str
    token: str
    text: str
    task: Task | None = None
    prompts_dir: str | None = None


def chat(unit: ChatUnit) -> dict:
    ask = gateway_chat(unit.socket_path, "local", unit.token, max_tokens=64, timeout=60)
    answer = ask([{"role": "user", "content": unit.text}])
    return {"answer": answer, "socket_path": unit.socket_path, "pid": os.getpid()}


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
