"""What the grader needs to know of one language: its tests and its test set-up.

Each language module answers four questions, the same way for every task:

* which tests a (hidden, task-owned) test file defines, with the id the task
  grades them by (`discover`);
* how to give every real test a fresh name and add canaries, so that the
  code under test can neither name the tests it wants to pass nor tell a
  canary from a real test (`rewrite`);
* which paths belong to the task's test set-up, never to the patch (`owns`);
* how the tests are built and run, one verdict per test (`build` / `plan`).
"""

from __future__ import annotations

import fnmatch
import random
import string
from dataclasses import dataclass, field
from pathlib import PurePosixPath


@dataclass(frozen=True)
class TestDef:
    """One test found in a test file."""

    __test__ = False  # not a pytest class

    name: str  # as written in the source: a function name, a Catch2 test name
    test_id: str  # the id the task grades it by (a FAIL_TO_PASS / PASS_TO_PASS entry)
    name_span: tuple[int, int]  # where `name` is in the text
    block: tuple[int, int]  # the whole definition (attributes included), for cloning
    body_open: int  # index of the body's `{` (or of the `:` for Python)
    template: bool = True  # may be cloned into a must-fail canary
    scope: str = ""  # the blocks around it, as the runner names them (Rust: "module::")


@dataclass
class Rewrite:
    """Hidden test files with fresh names and canaries, and how to read the results back."""

    files: dict[str, str] = field(default_factory=dict)  # path -> new text
    real: dict[str, str] = field(default_factory=dict)  # harness name -> original test id
    must_fail: list[str] = field(default_factory=list)  # harness names
    must_pass: list[str] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)  # harness name -> test file
    template: dict[str, str] = field(default_factory=dict)  # must-fail canary -> the real test it was cloned from

    @property
    def canaries(self) -> list[str]:
        return self.must_fail + self.must_pass


def fresh_name(rng: random.Random, prefix: str, taken: set[str], *, upper: bool = False, length: int = 10) -> str:
    """A name no one could have guessed, shaped like the language's test names."""
    alphabet = (string.ascii_uppercase if upper else string.ascii_lowercase) + string.digits
    while True:
        first = rng.choice(string.ascii_uppercase if upper else string.ascii_lowercase)
        name = prefix + first + "".join(rng.choice(alphabet) for _ in range(length - 1))
        if name not in taken:
            taken.add(name)
            return name


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """True when the path, or any of its folders, matches a pattern.

    A pattern without a slash matches a file or folder name at any depth;
    with a slash, it matches from the repository root.
    """
    parts = PurePosixPath(path).parts
    for pattern in patterns:
        if "/" in pattern:
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatchcase(p, pattern.rstrip("/")) for p in prefixes):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def replace_spans(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, replacement) edits."""
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text
