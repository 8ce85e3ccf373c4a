"""Java tests: JUnit 5 `@Test void name()` methods of the test classes, one process per test.

The exercises' own build is Gradle (`./gradlew test`), whose wrapper
downloads Gradle and then JUnit and AssertJ from Maven Central. Grading
needs neither: the toolchain image has Debian's JDK, JUnit 5 (with its
console launcher), AssertJ and Android's clean-room `org.json` (rest-api's
one dependency). The build does what Gradle's `java` plugin does with the
exercise's `build.gradle` — compile `src/main/java` and `src/test/java`
against JUnit and AssertJ — with `javac -proc:none` (no annotation
processor, so no code of the patch runs while compiling), into one jar that
the grader copies out of the test user's reach. Every test then runs in its
own JVM: JUnit's console launcher with `--select-method Class#name`; its
result is the exit status the kernel reports plus the launcher's own
`name() [OK]` line and `1 tests successful` count. Debian's jars come first
on the class path, so a class of the patch cannot stand in for JUnit's or
AssertJ's.

Test ids: `src/test/java/XTest.java::XTest::name`.
"""

from __future__ import annotations

import random
import re
import shlex
from dataclasses import dataclass

from evaluator.languages import braces, mutate
from evaluator.languages.base import Rewrite, fresh_name, matches

NAME = "java"
SUFFIXES = (".java",)
OWNED = ("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradle.properties",
         "gradle/", "gradlew", "gradlew.bat", ".gradle", "buildSrc/", "src/test/", "pom.xml", ".mvn", "mvnw",
         "mvnw.cmd", "junit-platform.properties", "module-info.java", "META-INF", ".hotspotrc")
JARS = ("/usr/share/java/junit-platform-console-standalone.jar", "/usr/share/java/assertj-core.jar",
        "/usr/share/java/json-latest.jar")
CLASS_PATH = ":".join(JARS)
JAR = "tests.jar"
BUILD_ENV: dict[str, str] = {}
BIN_MODE = "0644"  # the grader's copy of the jar is read by the test user's JVM
LAUNCHER = "org.junit.platform.console.ConsoleLauncher"


def owns(path: str, new: bool) -> bool:
    return matches(path, OWNED)


def prepare(text: str) -> str:
    """Turn on the tests exercism ships switched off, as Aider's harness does (`@Disabled` dropped)."""
    return re.sub(r"^[ \t]*@Disabled\b(?:\s*\([^)]*\))?[ \t]*\n", "", text, flags=re.M)


_HEAD = re.compile(r"@(?:org\.junit\.jupiter\.api\.)?Test\b(?![\w.(])"
                   r"(?P<between>(?:\s*(?:@[\w.]+(?:\s*\((?:[^()]|\([^()]*\))*\))?|(?:public|protected|final|"
                   r"synchronized|strictfp)\b))*)"
                   r"\s*void\s+(?P<name>\w+)\s*\(\s*\)\s*(?:throws\s+[\w.\s,]+?)?\s*\{")
_CLASS = re.compile(r"\bclass\s+(?P<name>\w+)[^{;]*\{")
_PACKAGE = re.compile(r"^\s*package\s+(?P<name>[\w.]+)\s*;", re.M)


@dataclass(frozen=True)
class JavaTest:
    __test__ = False

    name: str
    test_id: str
    cls: str  # the class JUnit selects it by (with its package)
    start: int  # the `@Test`
    name_span: tuple[int, int]
    body: tuple[int, int]  # inside the braces
    end: int  # after the closing brace


def discover(rel: str, text: str) -> list[JavaTest]:
    """The `@Test` methods of the file's top-level classes that JUnit runs (not private, not static)."""
    mask = braces.code_mask(text)
    package = next((m.group("name") for m in _PACKAGE.finditer(text) if mask[m.start("name")]), None)
    classes = []
    for match in _CLASS.finditer(text):
        if mask[match.start()] and braces.depth_at(text, mask, match.start()) == 0:
            try:
                classes.append((match.end() - 1, braces.matching_brace(text, mask, match.end() - 1),
                                match.group("name")))
            except ValueError:
                continue
    found = []
    for match in _HEAD.finditer(text):
        open_at = match.end() - 1
        if not mask[match.start()] or not mask[open_at] or braces.depth_at(text, mask, match.start()) != 1:
            continue
        owner = next((name for start, end, name in classes if start < match.start() < end), None)
        if owner is None:
            continue
        try:
            close = braces.matching_brace(text, mask, open_at)
        except ValueError:
            continue
        name = match.group("name")
        found.append(JavaTest(name=name, test_id=f"{rel}::{owner}::{name}",
                              cls=f"{package}.{owner}" if package else owner, start=match.start(),
                              name_span=match.span("name"), body=(open_at + 1, close), end=close + 1))
    return found


# -- must-fail canaries: the first assertion turned ----------------------------------------------------------------

_ASSERT = re.compile(r"(?<![\w$.])(?:(?:org\.assertj\.core\.api\.|org\.junit\.jupiter\.api\.)?Assertions\.)?"
                     r"(?P<name>assert\w*)\s*\(")
_CALL = re.compile(r"\s*\.\s*(?:<[^<>()]*>\s*)?(?P<name>\w+)\s*\(")
# AssertJ: an expected value that, changed, fails whenever the original passed
_BUMP = {"isEqualTo", "hasSize", "withMessage", "hasMessage", "isEqualToIgnoringCase", "startsWith", "endsWith",
         "containsExactly", "containsExactlyInAnyOrder", "containsOnly"}
_BUMP_ANY = {"containsExactly", "containsExactlyInAnyOrder", "containsOnly"}  # any literal element will do
_INVERSE = {"isTrue": "isFalse", "isFalse": "isTrue", "isNull": "isNotNull", "isNotNull": "isNull",
            "isEqualTo": "isNotEqualTo", "isNotEqualTo": "isEqualTo", "isSameAs": "isNotSameAs",
            "isNotSameAs": "isSameAs", "isEmpty": "isNotEmpty", "isNotEmpty": "isEmpty",
            "contains": "doesNotContain", "doesNotContain": "contains", "isInstanceOf": "isNotInstanceOf",
            "containsKey": "doesNotContainKey", "doesNotContainKey": "containsKey",
            # passing, these fix what the actual value holds, which the other then rejects
            "containsExactly": "doesNotContainSequence", "containsOnly": "doesNotContain",
            "containsExactlyInAnyOrder": "doesNotContain", "isCloseTo": "isNotCloseTo"}
# JUnit's own assertions
_JUNIT_INVERSE = {"assertEquals": "assertNotEquals", "assertNotEquals": "assertEquals", "assertTrue": "assertFalse",
                  "assertFalse": "assertTrue", "assertNull": "assertNotNull", "assertNotNull": "assertNull",
                  "assertSame": "assertNotSame", "assertNotSame": "assertSame"}


def _bump(text: str, spans: list[tuple[int, int]]) -> str | None:
    for start, end in spans:
        piece = text[start:end]
        new = mutate.bump_text(piece)
        if new is not None:
            at = start + len(piece) - len(piece.lstrip())
            return text[:at] + new + text[at + len(piece.strip()):]
    return None


def _rename(text: str, at: int, old: str, new: str) -> str:
    return text[:at] + new + text[at + len(old):]


def turn(body: str) -> str | None:
    """The body with its first turnable assertion made to fail whenever it passed: an expected literal
    changed (`isEqualTo(3)` → `isEqualTo(4)`, `withMessage("x")` → `withMessage("y")`), else the
    assertion inverted (`isTrue()` → `isFalse()`, `assertEquals` → `assertNotEquals`)."""
    mask = braces.code_mask(body)
    for match in _ASSERT.finditer(body):
        if not mask[match.start()]:
            continue
        name, at = match.group("name"), match.start("name")
        try:
            spans, close = mutate.call_args(body, mask, match.end() - 1)
        except ValueError:
            continue
        if not name.startswith("assertThat"):
            if name in ("assertEquals", "assertNotEquals") and len(spans) >= 2:
                bumped = _bump(body, spans[:2]) if name == "assertEquals" else None
                return bumped or _rename(body, at, name, _JUNIT_INVERSE[name])
            if name in _JUNIT_INVERSE and spans:
                return _rename(body, at, name, _JUNIT_INVERSE[name])
            continue
        calls, position = [], close + 1
        while True:  # the chain of AssertJ calls after assertThat(...)
            call = _CALL.match(body, position)
            if call is None or not mask[call.start("name")]:
                break
            try:
                spans, close = mutate.call_args(body, mask, call.end() - 1)
            except ValueError:
                break
            calls.append((call.group("name"), call.start("name"), spans))
            position = close + 1
        for method, _, spans in calls:  # an expected literal anywhere in the chain first
            if method in _BUMP and spans:
                bumped = _bump(body, spans if method in _BUMP_ANY else spans[:1])
                if bumped is not None:
                    return bumped
        for method, method_at, _ in calls:
            if method in _INVERSE:
                return _rename(body, method_at, method, _INVERSE[method])
    return None


def _must_fail(body: str, indent: str) -> str:
    """The fall-back, for a body with no assertion to turn: whatever it does, it then fails."""
    return (f"\n{indent}    try {{{body}{indent}    }} finally {{\n"
            f'{indent}        org.junit.jupiter.api.Assertions.fail("unexpected result");\n{indent}    }}\n{indent}')


def _must_pass(name: str, rng: random.Random, indent: str) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return (f"{indent}@org.junit.jupiter.api.Test\n{indent}public void {name}() {{\n"
            f"{indent}    org.assertj.core.api.Assertions.assertThat({a} + {b}).isEqualTo({a + b});\n{indent}}}")


def _indent(text: str, at: int) -> str:
    line = text.rfind("\n", 0, at) + 1
    return re.match(r"[ \t]*", text[line:at]).group(0)


def rewrite(files: dict[str, str], expected: set[str], rng: random.Random, canaries: int = 2) -> Rewrite:
    """Fresh names for every expected test; `canaries` must-fail clones (a real test with its first
    assertion turned) and must-pass tests, each put right after its template, in its class."""
    out = Rewrite()
    found = {rel: discover(rel, text) for rel, text in files.items()}
    taken = {t.name for tests in found.values() for t in tests}
    templates = [(rel, t) for rel, tests in found.items() for t in tests if t.test_id in expected]
    turnable = [(rel, t) for rel, t in templates if turn(files[rel][t.body[0]:t.body[1]]) is not None]
    templates = turnable or templates
    picks = [rng.choice(templates) for _ in range(canaries)] if templates else []
    for rel, text in files.items():
        edits: list[tuple[int, int, str]] = []
        for test in found[rel]:
            if test.test_id not in expected:
                continue
            new = fresh_name(rng, "", taken)
            edits.append((test.name_span[0], test.name_span[1], new))
            out.real[f"{test.cls}#{new}"] = test.test_id
            out.where[f"{test.cls}#{new}"] = rel
        for pick_rel, test in picks:
            if pick_rel != rel:
                continue
            failing, passing = fresh_name(rng, "", taken), fresh_name(rng, "", taken)
            indent = _indent(text, test.start)
            body = text[test.body[0]:test.body[1]]
            turned = turn(body)
            clone = (text[test.start:test.name_span[0]] + failing + text[test.name_span[1]:test.body[0]]
                     + (turned if turned is not None else _must_fail(body, indent)) + "}")
            pieces = [indent + clone, _must_pass(passing, rng, indent)]
            rng.shuffle(pieces)
            edits.append((test.end, test.end, "\n\n" + "\n\n".join(pieces)))
            for harness, kind in ((f"{test.cls}#{failing}", out.must_fail), (f"{test.cls}#{passing}", out.must_pass)):
                kind.append(harness)
                out.where[harness] = rel
            out.template[f"{test.cls}#{failing}"] = test.test_id
        for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
            text = text[:start] + new + text[end:]
        out.files[rel] = text
    return out


# -- building and running ------------------------------------------------------------------------------------------


def build_command(repo: str, out: str) -> str:
    """What Gradle's `java` plugin compiles, without Gradle: src/main/java and src/test/java, into one jar."""
    q = shlex.quote
    classes, sources = f"{out}/classes", f"{out}/sources.txt"
    return (f"cd {q(repo)} && rm -rf {q(classes)} && mkdir -p {q(classes)} "
            f"&& find src/main/java src/test/java -name '*.java' -type f > {q(sources)} 2>/dev/null; "
            f"javac -proc:none -encoding UTF-8 -nowarn -g -d {q(classes)} -cp {q(CLASS_PATH)} @{q(sources)} "
            f"&& jar cf {q(out)}/{JAR} -C {q(classes)} .")


def binaries(build_output: str, out: str, names: dict[str, str]) -> dict[str, str]:
    return {name: f"{out}/{JAR}" for name in names}


def test_argv(binary: str, name: str) -> list[str]:
    return ["java", "-XX:+UseSerialGC", "-cp", f"{CLASS_PATH}:{binary}", LAUNCHER,
            "--disable-banner", "--disable-ansi-colors", "--details=tree", "--details-theme=ascii",
            "--select-method", name]


def status(name: str, exit_code: int | None, output: str) -> str:
    if exit_code is None:
        return "TIMEOUT"
    if "Could not find method" in output or "ClassNotFoundException" in output:
        return "MISSING"
    method = name.rsplit("#", 1)[-1]
    if exit_code == 0:
        # JUnit prints a slow test's time before its mark: `name() 18724 ms [OK]`
        passed = re.search(rf"-- {re.escape(method)}\(\)(?: \d+ ms)? \[OK\]\s*$", output, re.M)
        counted = (re.search(r"^\[\s+1 tests successful\s+\]", output, re.M)
                   and re.search(r"^\[\s+0 tests failed\s+\]", output, re.M))
        return "PASSED" if passed and counted else "MISSING"  # exited 0 before JUnit reported it
    return "FAILED"
