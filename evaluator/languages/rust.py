"""Rust tests: `#[test] fn name()` in the crate's integration tests, one process per test.

The task owns the manifest: a patch that changes `Cargo.toml` (targets,
`harness = false`, a build script, dependencies) is graded with the task's
own, and the change is recorded as set aside. A solution therefore cannot
add a crate; the exercises that need one have it in the task's manifest.
"""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import PurePosixPath

from evaluator.languages import clike
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


SHAPE = clike.Shape(
    head=re.compile(r"#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn\s+(?P<name>\w+)\s*\(\s*\)[^{;]*\{"),
    test_id=lambda rel, name: f"{rel}::{name}",
    fresh=lambda rng, taken: fresh_name(rng, "", taken),
    must_fail=_must_fail,
    must_pass=_must_pass,
    template_ok=lambda head, body: "should_panic" not in head,
)

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
