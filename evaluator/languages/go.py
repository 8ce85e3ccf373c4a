"""Go tests: `func TestX(t *testing.T)` in the package's test files, one process per test."""

from __future__ import annotations

import random
import re
import shlex

from evaluator.languages import clike, mutate
from evaluator.languages.base import fresh_name, matches

NAME = "go"
OWNED = ("*_test.go", "go.mod", "go.sum", "go.work", "go.work.sum", "vendor", "testdata")
BINARY = "tests.test"


def owns(path: str, new: bool) -> bool:
    return matches(path, OWNED)


def _must_fail(head: str, body: str, indent: str) -> str:
    param = re.search(r"\(\s*(\w+)\s+\*testing\.T", head)
    t = param.group(1) if param else "t"
    return f'{head}\n{indent}defer func() {{ {t}.Errorf("unexpected result") }}()\n{body.strip(chr(10))}\n}}'


def _must_pass(name: str, rng: random.Random) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return (f"func {name}(t *testing.T) {{\n\tif got, want := {a}+{b}, {a + b}; got != want {{\n"
            f'\t\tt.Fatalf("got %d, want %d", got, want)\n\t}}\n}}')


SHAPE = clike.Shape(
    head=re.compile(r"^func\s+(?P<name>Test[A-Z0-9_]\w*|Test)\s*\(\s*\w+\s+\*testing\.T\s*\)\s*\{", re.M),
    test_id=lambda rel, name: f"{rel}::{name}",
    fresh=lambda rng, taken: fresh_name(rng, "Test", taken, upper=True),
    must_fail=_must_fail,
    turn=mutate.go_body,
    must_pass=_must_pass,
)


def build_command(repo: str, out: str) -> str:
    """Compile the package's tests once; each test then runs in its own process."""
    return f"cd {shlex.quote(repo)} && go test -c -o {shlex.quote(out)}/{BINARY} ."


BUILD_ENV = {"GOFLAGS": "-buildvcs=false -mod=mod", "GOCACHE": "/tmp/clade-build/gocache",
             "GOPATH": "/tmp/clade-build/gopath", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}


def binaries(build_output: str, out: str, names: dict[str, str]) -> dict[str, str]:
    """harness name -> binary (one binary for the package)."""
    return {name: f"{out}/{BINARY}" for name in names}


def test_argv(binary: str, name: str) -> list[str]:
    # paniconexit0: a test (or the code it calls) that ends the process with status 0 fails
    return [binary, "-test.run", f"^{name}$", "-test.count=1", "-test.v", "-test.paniconexit0"]


def status(name: str, exit_code: int | None, output: str) -> str:
    if exit_code is None:
        return "TIMEOUT"
    if "testing: warning: no tests to run" in output:
        return "MISSING"
    if exit_code == 0:
        if f"--- SKIP: {name} " in output:
            return "SKIPPED"
        return "PASSED" if f"--- PASS: {name} (" in output else "MISSING"  # exited 0 before testing
    return "FAILED"
