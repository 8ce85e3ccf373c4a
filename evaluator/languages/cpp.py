"""C++ tests: Catch2 `TEST_CASE("name", ...)` in the exercise's test file, one process per test.

exercism's CMakeLists.txt names the executable and the test source after
the exercise's folder, so the repository lives at `/workspace/<exercise>`.
"""

from __future__ import annotations

import random
import re
import shlex

from evaluator.languages import clike, mutate
from evaluator.languages.base import fresh_name, matches

NAME = "cpp"
OWNED = ("CMakeLists.txt", "*.cmake", "CMakePresets.json", "CMakeUserPresets.json", "test/", "*_test.cpp",
         "build/", ".cmake")


def owns(path: str, new: bool) -> bool:
    return matches(path, OWNED)


def graded_id(rel: str, name: str) -> str:
    """Catch2 names are free text; swebench's parser reads an id up to the first space."""
    return f"{rel}::" + re.sub(r"\s+", "_", name.strip())


def _must_fail(head: str, body: str, indent: str) -> str:
    return f'{head}\n{body.strip(chr(10))}\n{indent}FAIL("unexpected result");\n}}'


def _must_pass(name: str, rng: random.Random) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return f'TEST_CASE("{name}") {{\n    REQUIRE({a} + {b} == {a + b});\n}}'


_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)$", re.M)
_ALL_TESTS = re.compile(r"^\s*(defined\s*\(\s*EXERCISM_RUN_ALL_TESTS\s*\)|EXERCISM_RUN_ALL_TESTS)\s*$")


def compiled(text: str, index: int) -> bool:
    """Whether the grader's build compiles the code at `index`: inside `#if` blocks, only those
    that exercism's EXERCISM_RUN_ALL_TESTS turns on (a benchmark behind its own flag is no test)."""
    open_blocks: list[bool] = []
    for match in _DIRECTIVE.finditer(text, 0, index):
        word, condition = match.group(1), match.group(2)
        if word in ("if", "ifdef"):
            open_blocks.append(bool(_ALL_TESTS.match(condition)))
        elif word == "ifndef":
            open_blocks.append(False)
        elif word in ("elif", "else") and open_blocks:
            open_blocks[-1] = False
        elif word == "endif" and open_blocks:
            open_blocks.pop()
    return all(open_blocks)


SHAPE = clike.Shape(
    head=re.compile(r'TEST_CASE\s*\(\s*"(?P<name>(?:[^"\\\n]|\\.)*)"[^{;]*\{'),
    test_id=graded_id,
    fresh=lambda rng, taken: fresh_name(rng, "", taken),
    must_fail=_must_fail,
    turn=mutate.cpp_body,
    must_pass=_must_pass,
    template_ok=lambda head, body: not re.search(r"\breturn\b", body),
    compiled=compiled,
)

BUILD_ENV: dict[str, str] = {}


def exercise(repo: str) -> str:
    return repo.rstrip("/").rsplit("/", 1)[-1]


def build_command(repo: str, out: str) -> str:
    """Configure out of tree, build only the test executable (exercism's CMakeLists also
    defines a target that runs the tests after the build: the harness runs them itself)."""
    q = shlex.quote
    return (f"cmake -S {q(repo)} -B {q(out)}/cmake -DEXERCISM_RUN_ALL_TESTS=1 -DCMAKE_BUILD_TYPE=Debug "
            f"&& cmake --build {q(out)}/cmake --target {q(exercise(repo))} -- -j2 "
            f"&& cp {q(out)}/cmake/{q(exercise(repo))} {q(out)}/tests.bin")


def binaries(build_output: str, out: str, names: dict[str, str]) -> dict[str, str]:
    return {name: f"{out}/tests.bin" for name in names}


def test_argv(binary: str, name: str) -> list[str]:
    return [binary, name, "--warn", "NoTests"]


def status(name: str, exit_code: int | None, output: str) -> str:
    if exit_code is None:
        return "TIMEOUT"
    if "No test cases matched" in output:
        return "MISSING"
    if exit_code == 0:
        return "PASSED" if "All tests passed" in output else "MISSING"  # exited 0 before testing
    return "FAILED"
