"""The languages the grader runs, and what it asks each one (see `evaluator.languages.base`).

Python runs as one pytest process with Clade's plugin (`python`); the
others are *built*: their tests are compiled (or configured) once as the
test user, the results copied out of its reach, then each test runs in its
own process (`go`, `rust`, `cpp`, `javascript`, `java`). A built language's
module has `SHAPE` (renamed and cloned by `clike`) or its own `rewrite`,
and `build_command`, `BUILD_ENV`, `binaries`, `test_argv`, `status`;
optionally `BIN_MODE` (how the grader's copies may be used: 0711, run only,
unless the runner must read them, as a JVM reads a jar).
"""

from __future__ import annotations

import random
from types import ModuleType

from evaluator.languages import clike, cpp, go, java, javascript, python, rust
from evaluator.languages.base import Rewrite

BUILT: dict[str, ModuleType] = {m.NAME: m for m in (go, rust, cpp, javascript, java)}
GUARDED: dict[str, ModuleType] = {python.NAME: python, **BUILT}  # each one's `owns(path, new)`
SUFFIXES: dict[str, tuple[str, ...]] = {"python": (".py",), "go": (".go",), "rust": (".rs",),
                                        "cpp": (".cpp", ".cc", ".cxx"), "javascript": javascript.SUFFIXES,
                                        "java": java.SUFFIXES}


def discover_ids(language: str, rel: str, text: str) -> list[str]:
    """The graded ids of the tests in one (task-owned) test file; none for a file of another kind."""
    if language == "python":
        return [t.test_id for t in python.discover(rel, text)] if rel.endswith(".py") else []
    module = BUILT.get(language)
    if module is None or not rel.endswith(SUFFIXES[language]):
        return []
    if hasattr(module, "SHAPE"):
        return [t.test_id for t in clike.discover(module.SHAPE, rel, text)]
    return [t.test_id for t in module.discover(rel, text)]


def prepare_test(language: str, text: str) -> str:
    """A hidden test file with the tests exercism ships switched off turned on (as Aider does)."""
    module = BUILT.get(language)
    return module.prepare(text) if module is not None and hasattr(module, "prepare") else text


def rewrite(language: str, texts: dict[str, str], expected: set[str], rng: random.Random) -> Rewrite:
    """Fresh names for the expected tests, and canaries (`Rewrite`)."""
    if language == "python":
        return python.rewrite(texts, expected, rng)
    module = BUILT.get(language)
    if module is None:
        return Rewrite(files=dict(texts))
    if hasattr(module, "SHAPE"):
        return clike.rewrite(module.SHAPE, texts, expected, rng)
    return module.rewrite(texts, expected, rng)
