"""The rooms' one-way import arrows, checked on the source.

Every .py file of each room is parsed (never imported) and each import it
makes -- at module level, inside functions (lazy imports), under
TYPE_CHECKING, and `importlib.import_module("...")` / `__import__("...")`
with a string literal -- is checked against ALLOWED below. One test per
room, so a failure names the room, and its message lists file:line and the
import for each offence. (`python -m agent` command lines are not imports:
that is the agent contract, run inside a sandbox on a node's own code.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The "may import" column of the Rooms table in DESIGN.md (shared/DESIGN.md,
# section "Rooms (top-level folders)"): which other rooms each room may
# import. Keep the two in step. A room may always import itself; nothing may
# import `api` (nor `tests`/`bench`, which are not product code). `api` may
# import "everything above" it in that table, the seed agent included.
ALLOWED: dict[str, frozenset[str]] = {
    "agent": frozenset(),  # nothing of the platform: it runs alone in a sandbox
    "archive": frozenset(),
    "sandbox": frozenset(),
    "llm": frozenset({"archive"}),
    "evaluator": frozenset({"sandbox", "archive"}),
    "evolve": frozenset({"archive", "sandbox", "llm", "evaluator"}),
    "api": frozenset({"agent", "archive", "sandbox", "llm", "evaluator", "evolve"}),
}

# Top-level names that belong to this repository but to no room.
NOT_PRODUCT = frozenset({"tests", "bench"})
PROJECT_NAMES = frozenset(ALLOWED) | NOT_PRODUCT

# Folders inside a room that are data, not the room's code: the built-in
# benchmark's task repositories are fixture projects an agent is run on; a
# reference agent is agent code (its `agent` is itself), checked below.
REFERENCE_AGENTS = Path("evaluator/reference_agents")
EXCLUDED = (Path("evaluator/builtin/tasks"), REFERENCE_AGENTS)


@dataclass(frozen=True)
class Import:
    path: Path  # relative to ROOT
    line: int
    module: str  # the absolute dotted name imported
    how: str  # the source form, for the message

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def room_files(room: str) -> list[Path]:
    files = []
    for path in sorted((ROOT / room).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "__pycache__" in rel.parts or any(rel.is_relative_to(x) for x in EXCLUDED):
            continue
        files.append(rel)
    return files


def _package(rel: Path) -> list[str]:
    """The dotted package a file's relative imports are resolved against."""
    return list(rel.parent.parts)


def _resolve(rel: Path, level: int, module: str | None) -> str:
    base = _package(rel)
    if level > 1:
        base = base[: max(len(base) - (level - 1), 0)]
    return ".".join([*base, *([module] if module else [])])


def imports_of(rel: Path, source: str | None = None) -> Iterator[Import]:
    if source is None:
        source = (ROOT / rel).read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(rel))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            names = ", ".join(a.name for a in node.names)
            how = f"from {'.' * node.level}{node.module or ''} import {names}"
            if node.level == 0:
                assert node.module is not None
                yield Import(rel, node.lineno, node.module, how)
            else:
                yield Import(rel, node.lineno, _resolve(rel, node.level, node.module), how)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str) and first.value:
                    target = first.value
                    if target.startswith("."):  # import_module(".x", package=...): inside the room
                        target = _resolve(rel, len(target) - len(target.lstrip(".")), target.lstrip(".") or None)
                    yield Import(rel, node.lineno, target, f"{name}({first.value!r})")


def violations(room: str) -> list[str]:
    allowed = ALLOWED[room] | {room}
    found = []
    for rel in room_files(room):
        for imp in imports_of(rel):
            if imp.top in PROJECT_NAMES and imp.top not in allowed:
                found.append(f"  {imp.path}:{imp.line}: {imp.how}  (-> {imp.top})")
    return found


def describe(room: str) -> str:
    may = sorted(ALLOWED[room])
    return f"{room}/ may import {', '.join(may) if may else 'no other room'}; nothing imports api, tests or bench"


def test_every_package_is_a_room() -> None:
    """A new top-level package must get a row in DESIGN.md's table and in ALLOWED."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - PROJECT_NAMES == set(), "top-level packages missing from ALLOWED"
    for room in ALLOWED:
        assert room_files(room), f"room {room}/ has no Python files: is ALLOWED out of date?"


def test_relative_imports_resolve() -> None:
    assert _resolve(Path("evolve/policies/hgm.py"), 1, "base") == "evolve.policies.base"
    assert _resolve(Path("evolve/policies/hgm.py"), 2, "work") == "evolve.work"
    assert _resolve(Path("evolve/policies/hgm.py"), 3, "llm") == "llm"
    assert _resolve(Path("evolve/__init__.py"), 1, None) == "evolve"


def test_every_kind_of_import_is_seen() -> None:
    source = """
import llm.gateway, json
from evolve import engine
from ..api import app
from . import sibling


def lazy():
    from tests.support.script import Reply
    import importlib
    importlib.import_module("sandbox.docker_sandbox")
    __import__("bench")
"""
    seen = [(i.line, i.module) for i in imports_of(Path("archive/sub/x.py"), source)]
    assert sorted(seen) == [
        (2, "json"), (2, "llm.gateway"), (3, "evolve"), (4, "archive.api"), (5, "archive.sub"),
        (9, "tests.support.script"), (10, "importlib"), (11, "sandbox.docker_sandbox"), (12, "bench"),
    ]


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_follow_the_arrows(room: str) -> None:
    found = violations(room)
    assert not found, (
        f"{len(found)} import(s) in {room}/ break the rule: {describe(room)} "
        "(DESIGN.md, Rooms table):\n" + "\n".join(found)
    )


def test_a_reference_agent_imports_nothing_of_the_platform() -> None:
    """A reference agent runs alone in a sandbox, as the seed does: its only project import is its own `agent`."""
    files = [p.relative_to(ROOT) for p in sorted((ROOT / REFERENCE_AGENTS).rglob("*.py")) if "__pycache__" not in p.parts]
    assert files
    found = [f"  {i.path}:{i.line}: {i.how}" for rel in files for i in imports_of(rel)
             if i.top in PROJECT_NAMES - {"agent"}]
    assert not found, "a reference agent imports the platform:\n" + "\n".join(found)
