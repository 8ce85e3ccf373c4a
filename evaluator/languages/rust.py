"""Rust tests: `#[test] fn name()` in the crate's integration tests, one process per test.

The task owns the manifest: a patch that changes `Cargo.toml` (targets,
`harness = false`, a build script, dependencies) is graded with the task's
own, and the change is recorded as set aside. A solution therefore cannot
add a crate; the exercises that need one have it in the task's manifest.
For Polyglot that manifest is `grading_manifest`: the exercise's
Cargo.toml plus the dependencies its example solution declares (exercism's
`.meta/Cargo-example.toml`), so that the reference solution builds; the
loader (`evaluator.benchmarks.polyglot`) puts it in place with the hidden
tests, in the task's `test_patch`. The crates themselves are vendored in the toolchain image
(`evaluator.polyglot_image`, `evaluator/polyglot_crates.toml`).
"""

from __future__ import annotations

import json
import random
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath

from evaluator.languages import braces, clike, mutate
from evaluator.languages.base import fresh_name, matches

NAME = "rust"
OWNED = ("Cargo.toml", "Cargo.lock", "build.rs", ".cargo", "tests/", "benches/", "examples/",
         "rust-toolchain", "rust-toolchain.toml")
_GUARD = ("let _clade_guard = { struct Guard; impl Drop for Guard { fn drop(&mut self) { "
          'if !std::thread::panicking() { panic!("unexpected result"); } } } Guard };')


def owns(path: str, new: bool) -> bool:
    return matches(path, OWNED)


def _must_fail(head: str, body: str, indent: str) -> str:
    return f"{head}\n{indent}{_GUARD}\n{body.strip(chr(10))}\n}}"


def _must_pass(name: str, rng: random.Random) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return f"#[test]\nfn {name}() {{\n    assert_eq!({a} + {b}, {a + b});\n}}"


_ATTRIBUTES_BEFORE = re.compile(r"(?:(?:#\[[^\]]*\]|//[^\n]*)\s*)+$")
# Attributes and doc comments may stand between `#[test]` and `fn`.
_HEAD = re.compile(r"#\[test\](?:\s*(?:#\[[^\]]*\]|//[^\n]*))*\s*fn\s+(?P<name>\w+)\s*\(\s*\)[^{;]*\{")


def compiled(text: str, index: int) -> bool:
    """A test behind `#[cfg(...)]` (a cargo feature the grader does not turn on) is not built."""
    before = _ATTRIBUTES_BEFORE.search(text[max(0, index - 400):index])
    head = _HEAD.match(text, index)
    attributes = (before.group(0) if before else "") + (head.group(0) if head else "")
    return "#[cfg(" not in attributes.replace(" ", "") or "#[cfg(test)]" in attributes.replace(" ", "")


_MOD = re.compile(r"(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{")


def scope(text: str, mask: list[bool], index: int) -> str | None:
    """`a::b::` for a test inside `mod a { mod b {`; None inside anything else, or a cfg-gated module."""
    path = []
    for match in _MOD.finditer(text, 0, index):
        open_at = match.end() - 1
        if not mask[match.start()] or braces.matching_brace(text, mask, open_at) < index:
            continue
        if "#[cfg(" in match.group(0).replace(" ", "") and "#[cfg(test)]" not in match.group(0).replace(" ", ""):
            return None
        path.append((open_at, match.group(1)))
    if len(path) != braces.depth_at(text, mask, index):
        return None  # some block around it is not a module (a function, a macro)
    return "".join(f"{name}::" for _, name in path)


SHAPE = clike.Shape(
    head=_HEAD,
    test_id=lambda rel, name: f"{rel}::{name}",
    fresh=lambda rng, taken: fresh_name(rng, "", taken),
    must_fail=_must_fail,
    turn=mutate.rust_body,
    must_pass=_must_pass,
    template_ok=lambda head, body: "should_panic" not in head,
    compiled=compiled,
    scope=scope,
)

# Each test runs in a writable copy of the package (cargo runs tests in the package root, and some
# write files there: grep's set their input files up); the repository itself stays the grader's.
WRITABLE_CWD = True
BUILD_ENV = {"CARGO_TARGET_DIR": "/tmp/clade-build/target", "CARGO_HOME": "/tmp/clade-build/cargo-home",
             "CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never"}


def lock_command(repo: str) -> str:
    """Run by the grader before the build: the repository is read-only to the test user,
    and cargo wants a lock file. Reads the task's manifest only; runs no code of the patch."""
    return f"cd {shlex.quote(repo)} && {{ test -f Cargo.lock || cargo generate-lockfile --offline; }}"


def build_command(repo: str, out: str) -> str:
    return f"cd {shlex.quote(repo)} && cargo test --offline --no-run --message-format=json"


def binaries(build_output: str, out: str, where: dict[str, str]) -> dict[str, str]:
    """harness name -> the test executable built from its file (cargo's JSON messages)."""
    built: dict[str, str] = {}
    for line in build_output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        target = message.get("target") or {}
        executable = message.get("executable")
        if (message.get("reason") == "compiler-artifact" and (message.get("profile") or {}).get("test")
                and "test" in (target.get("kind") or []) and isinstance(executable, str)
                and executable.startswith(BUILD_ENV["CARGO_TARGET_DIR"] + "/")):
            built[str(target.get("name"))] = executable
    return {name: built[PurePosixPath(rel).stem] for name, rel in where.items() if PurePosixPath(rel).stem in built}


def test_argv(binary: str, name: str) -> list[str]:
    return [binary, "--exact", name, "--include-ignored", "--test-threads=1"]


def status(name: str, exit_code: int | None, output: str) -> str:
    if exit_code is None:
        return "TIMEOUT"
    if "running 1 test" not in output:
        return "MISSING" if exit_code == 0 else "FAILED"
    if exit_code == 0:
        return "PASSED" if f"test {name} ... ok" in output else "MISSING"
    return "FAILED"


# -- the manifest the tests are built with -----------------------------------------------------------------------------

EXAMPLE_MANIFEST = ".meta/Cargo-example.toml"  # exercism's manifest of the example solution
_DEPENDENCIES = re.compile(r"^\[dependencies\][ \t]*(?:#[^\n]*)?(?:\n|\Z)", re.M)


def toml_value(value: object) -> str:
    """A TOML value for a dependency entry (a requirement string, or an inline table of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"no TOML value for {value!r} in a dependency entry")


def add_dependencies(manifest: str, dependencies: dict[str, object]) -> str:
    """`manifest` with `dependencies` added to its `[dependencies]` table (made at the end if it has none);
    the rest of the text as it was, so the task's diff of it shows only the added lines."""
    lines = "".join(f"{name} = {toml_value(value)}\n" for name, value in dependencies.items())
    header = _DEPENDENCIES.search(manifest)
    if header is not None:
        at = header.end()
        merged = manifest[:at] + ("" if manifest[:at].endswith("\n") else "\n") + lines + manifest[at:]
    else:
        merged = manifest.rstrip("\n") + "\n\n[dependencies]\n" + lines
    tomllib.loads(merged)  # still a manifest (raises on a table written in a form this does not expect)
    return merged


def grading_manifest(exercise: Path) -> str | None:
    """The Cargo.toml a Polyglot exercise's tests are built with, or None when it is the exercise's own.

    The rule: the exercise's Cargo.toml plus every `[dependencies]` entry of
    its `.meta/Cargo-example.toml` that it lacks (the exercise's own entry
    wins for a crate both name). exercism lets a student add crates to
    Cargo.toml; here the task owns the manifest and grading is offline, so
    the crates a reference solution needs must be in the task's manifest
    (and vendored in the image) for gold to build, and a solution can never
    bring another one.
    """
    own_path, example_path = exercise / "Cargo.toml", exercise / EXAMPLE_MANIFEST
    if not own_path.is_file() or not example_path.is_file():
        return None
    own_text = own_path.read_text()
    own = tomllib.loads(own_text).get("dependencies", {})
    wanted = tomllib.loads(example_path.read_text()).get("dependencies", {})
    missing = {name: value for name, value in wanted.items() if name not in own}
    return add_dependencies(own_text, missing) if missing else None
