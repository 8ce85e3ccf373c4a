"""JavaScript tests: Jest's `test('name', () => {...})` / `it(...)` inside `describe` blocks, one process per test.

The exercises' own build is `jest ./*` after `npm install` of Jest and
Babel. Grading needs no npm: Debian's `jest` (which ships `babel-jest`) and
`node-babel7` are in the toolchain image, with a stand-in for
`@exercism/babel-preset-javascript` (Babel's `preset-env` for the running
Node, see `evaluator.polyglot_image`), so the task's own `babel.config.js`
is the one that transforms the ES modules. Every test runs in its own Jest
process (`--testNamePattern` with its fresh name); its result is the exit
status the kernel reports plus Jest's own `✓ name` line and `1 passed`
count. Babel's transforms are made once by the build, before any code of
the patch runs, and each test's process starts from the grader's copy of
them (the code under test could write to a cache it kept between tests).

Test ids: `file::describe::...::test name`, whitespace as `_` (swebench's
parser reads an id up to the first space), `[`/`]` as `(`/`)` (the grader
reads `[` as the start of a pytest parameter).
"""

from __future__ import annotations

import json
import random
import re
import shlex
from dataclasses import dataclass

from evaluator.languages import braces, mutate
from evaluator.languages.base import Rewrite, fresh_name, matches

NAME = "javascript"
SUFFIXES = (".js", ".mjs", ".cjs")
OWNED = ("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", ".yarnrc*",
         ".pnp.*", ".npmrc", "node_modules", "*.spec.js", "*.test.js", "*.spec.mjs", "*.test.mjs", "*.spec.cjs",
         "*.test.cjs", "__tests__", "__mocks__", "babel.config.*", ".babelrc*", "jest.config.*",
         "jest.setup.*", ".eslintrc*")
CONFIG = "jest.config.json"
BUILD_ENV = {"CI": "true", "NO_COLOR": "1", "FORCE_COLOR": "0", "TZ": "UTC"}
BIN_MODE = "0644"  # the grader's copy of the Jest config and cache is read by the test user's Jest


def owns(path: str, new: bool) -> bool:
    return matches(path, OWNED)


def prepare(text: str) -> str:
    """Turn on the tests exercism ships switched off, as Aider's harness does (`xtest(` → `test(`),
    and `xit(` likewise."""
    return re.sub(r"(?<![\w$.])x(test|it)(\s*\()", r"\1\2", text)


# -- reading JavaScript far enough ---------------------------------------------------------------------------------

_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^")
_REGEX_KEYWORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield",
                   "await", "instanceof"}


def _skip_string(text: str, i: int) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == quote or text[j] == "\n":
            return j + 1
        else:
            j += 1
    return len(text)


def _skip_template(text: str, i: int) -> int:
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == "`":
            return j + 1
        elif text.startswith("${", j):
            j = _skip_code(text, j + 2, "}")
        else:
            j += 1
    return len(text)


def _skip_code(text: str, j: int, closing: str) -> int:
    """Index after the `closing` that ends the code starting at j (a template's `${...}`)."""
    depth = 0
    while j < len(text):
        c = text[j]
        if c in "'\"":
            j = _skip_string(text, j)
            continue
        if c == "`":
            j = _skip_template(text, j)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return j + 1
            depth -= 1
        j += 1
    return len(text)


def _skip_regex(text: str, i: int) -> int:
    j, in_class = i + 1, False
    while j < len(text) and text[j] != "\n":
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            j += 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            return j
        j += 1
    return i + 1  # not a regular expression after all: a lone slash


def code_mask(text: str) -> list[bool]:
    """True at every index that is code (not in a string, template, regular expression or comment)."""
    mask = [True] * len(text)
    i, prev, word = 0, "", ""
    while i < len(text):
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
        elif c in "'\"":
            end = _skip_string(text, i)
        elif c == "`":
            end = _skip_template(text, i)
        elif c == "/" and (prev == "" or prev in _REGEX_AFTER or word in _REGEX_KEYWORDS):
            end = _skip_regex(text, i)
            if end == i + 1:
                prev, word = c, ""
                i += 1
                continue
        else:
            if not c.isspace():
                if c.isalnum() or c in "_$":
                    word = word + c if prev and (prev.isalnum() or prev in "_$") else c
                else:
                    word = ""
                prev = c
            i += 1
            continue
        for k in range(i, end):
            mask[k] = False
        prev, word = "a", ""  # a value: a slash after it divides
        i = end
    return mask


def _matching(text: str, mask: list[bool], open_at: int) -> int:
    """Index of the bracket that closes the one at open_at (any of ([{ nested); ValueError if none."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    for i in range(open_at, len(text)):
        if not mask[i]:
            continue
        c = text[i]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                raise ValueError("unbalanced brackets")
            if not stack:
                return i
    raise ValueError("unbalanced brackets")


# -- tests ---------------------------------------------------------------------------------------------------------

_CALL = re.compile(r"(?<![\w$.])(?P<kind>describe|test|it)\s*\(")
_NAME = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`[^`\\$]*`""")
_FUNCTION = re.compile(r"(?:async\s+)?(?:function\s*\w*\s*\([^()]*\)\s*(?=\{)|(?:\([^()]*\)|[\w$]+)\s*=>\s*)")


@dataclass(frozen=True)
class _Call:
    kind: str  # describe / test / it
    name: str  # the title as written, without its quotes
    start: int  # index of `test`
    name_span: tuple[int, int]  # the title literal, quotes included
    body: tuple[int, int]  # the callback's body: inside its braces, or its expression
    braced: bool  # `() => { ... }` (else `() => expression`)
    end: int  # after the call's `)` (and a `;`)


def _calls(text: str, mask: list[bool]) -> list[_Call]:
    found = []
    for match in _CALL.finditer(text):
        if not mask[match.start()]:
            continue
        open_paren = match.end() - 1
        try:
            close_paren = _matching(text, mask, open_paren)
            args = mutate.call_args(text, mask, open_paren)[0]
        except ValueError:
            continue
        if len(args) < 2:
            continue
        name = _NAME.fullmatch(text[args[0][0]:args[0][1]].strip())
        arg_start = args[1][0] + len(text[args[1][0]:args[1][1]]) - len(text[args[1][0]:args[1][1]].lstrip())
        arg_end = args[1][0] + len(text[args[1][0]:args[1][1]].rstrip())
        function = _FUNCTION.match(text, arg_start, arg_end)
        if name is None or function is None:
            continue
        name_at = args[0][0] + text[args[0][0]:args[0][1]].index(name.group(0))
        at = function.end()
        braced = text[at:at + 1] == "{"
        try:
            if braced and _matching(text, mask, at) != arg_end - 1:
                continue  # `() => {...}.x` or the like: not a plain body
        except ValueError:
            continue
        body = (at + 1, arg_end - 1) if braced else (at, arg_end)
        if body[0] > body[1]:
            continue
        end = close_paren + 1
        semicolon = re.compile(r"[ \t]*;").match(text, end)
        end = semicolon.end() if semicolon else end
        found.append(_Call(match.group("kind"), name.group(0)[1:-1], match.start(),
                           (name_at, name_at + len(name.group(0))), body, braced, end))
    return found


@dataclass(frozen=True)
class JsTest:
    __test__ = False

    name: str
    test_id: str
    call: _Call
    scope: tuple[str, ...]  # the describe titles around it


def graded_id(rel: str, scope: tuple[str, ...], name: str) -> str:
    parts = [re.sub(r"\s+", "_", p.strip()).replace("[", "(").replace("]", ")") or "_" for p in (*scope, name)]
    return f"{rel}::" + "::".join(parts)


def discover(rel: str, text: str) -> list[JsTest]:
    """The tests Jest runs: `test`/`it` calls at the top level or inside `describe` callbacks only
    (a test made inside a loop or a helper has no title to find), `.skip`ped ones left out."""
    mask = code_mask(text)
    calls = _calls(text, mask)
    describes = [c for c in calls if c.kind == "describe"]
    found: list[JsTest] = []
    seen: dict[str, int] = {}
    for call in calls:
        if call.kind == "describe":
            continue
        around = [d for d in describes if d.braced and d.body[0] <= call.start < d.body[1]]
        if braces.depth_at(text, mask, call.start) != len(around):
            continue  # inside something else than describe blocks
        scope = tuple(d.name for d in sorted(around, key=lambda d: d.start))
        test_id = graded_id(rel, scope, call.name)
        seen[test_id] = seen.get(test_id, 0) + 1
        if seen[test_id] > 1:  # the same title twice in one block: Jest runs both
            test_id = f"{test_id}#{seen[test_id]}"
        found.append(JsTest(call.name, test_id, call, scope))
    return found


_EQUAL = {"toBe", "toEqual", "toStrictEqual", "toHaveLength"}
_EXPECT = re.compile(r"(?<![\w$.])expect\s*\(")
_CHAIN = re.compile(r"\s*\.\s*(resolves|rejects)\b")
_NOT = re.compile(r"\s*\.\s*not\b")
_MATCHER = re.compile(r"\s*\.\s*(?P<name>\w+)\s*\(")


def turn(body: str) -> str | None:
    """The body with its first `expect(...)` made to fail whenever it passed: an expected literal of
    an equality matcher changed (`toBe(3)` → `toBe(4)`), else the matcher negated (`.not`)."""
    mask = code_mask(body)
    for match in _EXPECT.finditer(body):
        if not mask[match.start()]:
            continue
        try:
            at = _matching(body, mask, match.end() - 1) + 1
        except ValueError:
            continue
        chain = _CHAIN.match(body, at)
        at = chain.end() if chain else at
        negated = _NOT.match(body, at)
        matcher = _MATCHER.match(body, negated.end() if negated else at)
        if matcher is None or not mask[matcher.start("name")]:
            continue
        if matcher.group("name") in _EQUAL and not negated:
            spans = mutate.call_args(body, mask, matcher.end() - 1)[0]
            if spans:
                piece = body[spans[0][0]:spans[0][1]]
                new = mutate.bump_text(piece)
                if new is not None:
                    lead = spans[0][0] + len(piece) - len(piece.lstrip())
                    return body[:lead] + new + body[lead + len(piece.strip()):]
        if negated:
            return body[:negated.start()] + body[negated.end():]
        return body[:at] + ".not" + body[at:]
    return None


def _must_fail(body: str) -> str:
    """The fall-back, for a body with no `expect` of its own: whatever it does, it then fails."""
    return f"\n    try {{{body}}} finally {{\n      throw new Error('unexpected result');\n    }}\n  "


def _must_pass(name: str, rng: random.Random, indent: str) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return f"{indent}test('{name}', () => {{\n{indent}  expect({a} + {b}).toEqual({a + b});\n{indent}}});"


def _indent(text: str, at: int) -> str:
    line = text.rfind("\n", 0, at) + 1
    return re.match(r"[ \t]*", text[line:at]).group(0)


def rewrite(files: dict[str, str], expected: set[str], rng: random.Random, canaries: int = 2) -> Rewrite:
    """Fresh titles for every expected test; `canaries` must-fail clones (a real test with its first
    expectation turned) and must-pass tests, each put right after its template, in its describe block."""
    out = Rewrite()
    found = {rel: discover(rel, text) for rel, text in files.items()}
    taken = {t.name for tests in found.values() for t in tests}
    templates = [(rel, t) for rel, tests in found.items() for t in tests if t.test_id in expected]

    def body(rel: str, test: JsTest) -> str:
        return files[rel][test.call.body[0]:test.call.body[1]]

    turnable = [(rel, t) for rel, t in templates if turn(body(rel, t)) is not None]
    templates = turnable or templates
    picks = [rng.choice(templates) for _ in range(canaries)] if templates else []
    for rel, text in files.items():
        edits: list[tuple[int, int, str]] = []
        for test in found[rel]:
            if test.test_id not in expected:
                continue
            new = fresh_name(rng, "", taken)
            edits.append((test.call.name_span[0], test.call.name_span[1], f"'{new}'"))
            out.real[new] = test.test_id
            out.where[new] = rel
        for pick_rel, test in picks:
            if pick_rel != rel:
                continue
            failing, passing = fresh_name(rng, "", taken), fresh_name(rng, "", taken)
            call = test.call
            original = body(rel, test)
            turned = turn(original)
            head = text[call.start:call.name_span[0]] + f"'{failing}'" + text[call.name_span[1]:call.body[0]]
            tail = text[call.body[1]:call.end]
            if turned is None:
                turned = _must_fail(original) if call.braced else _must_fail(f" return {original.strip()}; ")
                if not call.braced:
                    turned = "{" + turned + "}"
            clone = head + turned + tail
            indent = _indent(text, call.start)
            pieces = [indent + clone, _must_pass(passing, rng, indent)]
            rng.shuffle(pieces)
            edits.append((call.end, call.end, "\n\n" + "\n\n".join(pieces)))
            out.must_fail.append(failing)
            out.must_pass.append(passing)
            out.template[failing] = test.test_id
            out.where[failing] = out.where[passing] = rel
        out.files[rel] = _apply(text, edits)
    return out


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Non-overlapping edits; insertions at one index keep their order."""
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


# -- building and running ------------------------------------------------------------------------------------------

JEST_DIR = "/tmp/clade-jest"  # where each test's process unpacks the grader's copy of CACHE_TAR
CACHE_TAR = "jest.tar"
# Run as the test user by the build, before any code of the patch runs: each of the repository's
# files transformed as Jest's runtime transforms it (same config, same options), into Jest's cache.
# Nothing is executed: Babel only parses and prints. A source that does not parse is left to the test.
_PREWARM = """\
process.env.NODE_ENV = process.env.NODE_ENV || 'test';
const fs = require('fs');
const { readConfig } = require('jest-config');
const { createScriptTransformer } = require('@jest/transform');
(async () => {
  const [configPath, ...files] = process.argv.slice(2);
  const { globalConfig, projectConfig } = await readConfig({ config: configPath, _: [], $0: 'jest' }, configPath);
  const transformer = await createScriptTransformer(projectConfig);
  const options = { isInternalModule: false, supportsDynamicImport: false, supportsExportNamespaceFrom: false,
    supportsStaticESM: false, supportsTopLevelAwait: false, changedFiles: undefined,
    collectCoverage: globalConfig.collectCoverage, collectCoverageFrom: globalConfig.collectCoverageFrom,
    coverageProvider: globalConfig.coverageProvider, sourcesRelatedToTestsInChangedFiles: undefined };
  let done = 0;
  for (const file of files) {
    try {
      transformer.transform(file, options, fs.readFileSync(file, 'utf8'));
      done += 1;
    } catch (error) {
      console.log(`not transformed: ${file}: ${String(error.message).split('\\n')[0]}`);
    }
  }
  console.log(`transformed ${done} of ${files.length} files`);
})().catch((error) => { console.error(error); process.exit(1); });
"""


def jest_config(repo: str) -> dict:
    """Jest's defaults (the exercises' package.json sets none) for the task's test files only. The
    transform cache is the build's (see `build_command`); `id` fixed, so that it is the same project
    whatever path the config is read from."""
    return {"id": "clade-polyglot", "rootDir": repo, "roots": ["<rootDir>"], "testEnvironment": "node",
            "testMatch": ["**/*.spec.js", "**/*.test.js", "**/*.spec.mjs", "**/*.test.mjs"],
            "testPathIgnorePatterns": ["/node_modules/"],
            # Debian's packages are what node_modules would be: not transformed (not Jest's own either)
            "transformIgnorePatterns": ["/node_modules/", "^/usr/share/nodejs/", "^/usr/lib/nodejs/"],
            "cache": True, "cacheDirectory": f"{JEST_DIR}/cache",
            "watchman": False, "injectGlobals": True}


def build_command(repo: str, out: str) -> str:
    """Nothing to compile: the Jest config, Jest's listing of the task's test files, and Babel's
    transform of every source done once, packed in one file that the grader copies out of the test
    user's reach; each test unpacks it afresh (the code under test could write to a cache it kept).
    Runs no code of the patch."""
    q = shlex.quote
    config = f"{JEST_DIR}/{CONFIG}"
    find = (f"find . -path ./node_modules -prune -o -type f \\( -name '*.js' -o -name '*.jsx' \\) "
            f"-printf '{repo}/%P\\0'")
    return (f"cd {q(repo)} && rm -rf {JEST_DIR} && mkdir -p {JEST_DIR} "
            f"&& printf '%s\\n' {q(json.dumps(jest_config(repo)))} > {config} "
            f"&& printf '%s' {q(_PREWARM)} > {q(out)}/prewarm.js "
            f"&& jest --config {config} --ci --listTests "
            f"&& {{ {find} | xargs -0 -r node {q(out)}/prewarm.js {config}; }} "
            f"&& tar -cf {q(out)}/{CACHE_TAR} -C {JEST_DIR} .")


def binaries(build_output: str, out: str, names: dict[str, str]) -> dict[str, str]:
    """harness name -> what the grader copies out of the test user's reach: config and cache."""
    return {name: f"{out}/{CACHE_TAR}" for name in names}


# each test: the build's config and cache unpacked afresh, then Jest on that one test
_RUN = (f'rm -rf {JEST_DIR} && mkdir -p {JEST_DIR} && tar -xf "$1" -C {JEST_DIR} && '
        f'exec jest --config {JEST_DIR}/{CONFIG} --ci --runInBand --verbose --forceExit --testNamePattern "$2"')


def test_argv(binary: str, name: str) -> list[str]:
    return ["bash", "-c", _RUN, "jest-test", binary, name]


def status(name: str, exit_code: int | None, output: str) -> str:
    if exit_code is None:
        return "TIMEOUT"
    if exit_code == 0:
        passed = re.search(rf"^\s*✓ {re.escape(name)}(?: \(\d+(?:\.\d+)? m?s\))?\s*$", output, re.M)
        counted = re.search(r"^Tests:.*\b1 passed\b", output, re.M)
        return "PASSED" if passed and counted else "MISSING"  # skipped, or exited 0 before Jest reported it
    return "FAILED"
