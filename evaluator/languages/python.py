"""Python tests: found as pytest finds them, run by pytest with Clade's reporting plugin.

Collected tests: module-level `test*` functions, and `test*` methods of
classes pytest collects — names starting with `Test`, or subclasses of
unittest's `TestCase` under any name (`HangmanTests`).
"""

from __future__ import annotations

import ast
import random
import sys
from pathlib import PurePosixPath

from evaluator.languages import mutate
from evaluator.languages.base import Rewrite, TestDef, fresh_name, matches

NAME = "python"
# The runner's own modules: a file of the repository with one of these names
# could stand in for them where the repository comes first on sys.path.
RUNNER_MODULES = frozenset({"pytest", "_pytest", "pluggy", "py", "iniconfig", "packaging", "clade_pytest_plugin"})
OWNED = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "sitecustomize.py",
         "usercustomize.py", "*.pth", ".pytest_cache", "__pycache__", "*.pyc")
_EQUALITY = {"assertEqual", "assertEquals", "assertListEqual", "assertDictEqual", "assertTupleEqual",
             "assertSetEqual", "assertCountEqual", "assertSequenceEqual", "assertMultiLineEqual", "assertIs"}


def owns(path: str, new: bool) -> bool:
    """Runner configuration at any depth, and new top-level modules that would shadow the
    runner's or the standard library's where the repository comes first on sys.path."""
    if matches(path, OWNED):
        return True
    parts = PurePosixPath(path).parts
    if not new or not parts or (len(parts) == 1 and not parts[0].endswith(".py")):
        return False
    module = parts[0].removesuffix(".py")
    return module in RUNNER_MODULES or module in sys.stdlib_module_names


def _testcase_classes(tree: ast.Module) -> set[str]:
    """Names of the module's classes that derive (here or through a parent here) from a TestCase."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name not in found:
                for base in node.bases:
                    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                    if name.endswith("TestCase") or name in found:
                        found.add(node.name)
                        changed = True
                        break
    return found


def _offsets(text: str) -> list[int]:
    starts, total = [], 0
    for line in text.splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    starts.append(total)
    return starts


def _def(node: ast.FunctionDef | ast.AsyncFunctionDef, text: str, starts: list[int], test_id: str) -> TestDef:
    line_start = starts[node.lineno - 1]
    at = text.index(node.name, line_start + node.col_offset)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    end = starts[node.end_lineno] if node.end_lineno is not None else len(text)
    return TestDef(name=node.name, test_id=test_id, name_span=(at, at + len(node.name)),
                   block=(starts[first - 1], end), body_open=at)


def discover(rel: str, text: str) -> list[TestDef]:
    """The tests of one test file, with pytest's ids (`file::Class::test` / `file::test`)."""
    tree = ast.parse(text)
    starts = _offsets(text)
    cases = _testcase_classes(tree)
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.append(_def(node, text, starts, f"{rel}::{node.name}"))
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or node.name in cases):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    found.append(_def(item, text, starts, f"{rel}::{node.name}::{item.name}"))
    return found


_INVERSE = {"assertEqual": "assertNotEqual", "assertEquals": "assertNotEqual", "assertNotEqual": "assertEqual",
            "assertTrue": "assertFalse", "assertFalse": "assertTrue", "assertIs": "assertIsNot",
            "assertIsNot": "assertIs", "assertIsNone": "assertIsNotNone", "assertIsNotNone": "assertIsNone",
            "assertIn": "assertNotIn", "assertNotIn": "assertIn", "assertListEqual": "assertNotEqual",
            "assertDictEqual": "assertNotEqual", "assertTupleEqual": "assertNotEqual",
            "assertSetEqual": "assertNotEqual", "assertSequenceEqual": "assertNotEqual",
            "assertMultiLineEqual": "assertNotEqual", "assertCountEqual": "assertNotEqual"}


def _turn(block: str) -> str | None:
    """The block with its first assertion turned (see evaluator.languages.mutate), or None."""
    import textwrap

    dedented = textwrap.dedent(block)
    indent = len(block.split("\n", 1)[0]) - len(dedented.split("\n", 1)[0])
    starts = _offsets(block)
    function = ast.parse(dedented).body[0]
    assert isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
    # Only the body's own statements: an assertion in a branch, a loop or a `with pytest.raises`
    # might never run, and a canary that does not fail beside its passing twin would accuse honest code.
    nodes = [n.value if isinstance(n, ast.Expr) else n for n in function.body
             if isinstance(n, ast.Assert) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))]

    def at(line: int, col: int) -> int:
        return starts[line - 1] + col + indent

    def literal(args: list[ast.expr]) -> tuple[int, int, str] | None:
        """A constant of an expected value (inside a list or dict literal too): another value of its kind."""
        for arg in args:
            inside = [arg] if isinstance(arg, ast.Constant) else (
                [*arg.values, *[k for k in arg.keys if k is not None]] if isinstance(arg, ast.Dict)
                else list(arg.elts) if isinstance(arg, (ast.List, ast.Tuple, ast.Set)) else [])
            for item in inside:
                if isinstance(item, ast.Constant) and item.end_lineno == item.lineno and item.end_col_offset is not None:
                    a, b = at(item.lineno, item.col_offset), at(item.lineno, item.end_col_offset)
                    new = mutate.bump_text(block[a:b])
                    if new is not None:
                        return a, b, new
        return None

    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _INVERSE:
            edit = literal(node.args[:2]) if node.func.attr in _EQUALITY else None
            if edit is None:
                name_at = block.index(node.func.attr, at(node.func.value.end_lineno or node.lineno,
                                                         node.func.value.end_col_offset or 0))
                edit = (name_at, name_at + len(node.func.attr), _INVERSE[node.func.attr])
            return block[:edit[0]] + edit[2] + block[edit[1]:]
        if isinstance(node, ast.Assert):
            test = node.test
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
                edit = literal([test.comparators[0], test.left])
                if edit is not None:
                    return block[:edit[0]] + edit[2] + block[edit[1]:]
            if test.end_lineno is not None and test.end_col_offset is not None:
                a, b = at(test.lineno, test.col_offset), at(test.end_lineno, test.end_col_offset)
                return block[:a] + f"not ({block[a:b]})" + block[b:]
    return None


def _may_clone(block: str) -> bool:
    """A test that can end early (`return`, a generator) could pass with its failure unreached."""
    import textwrap

    function = ast.parse(textwrap.dedent(block)).body[0]
    return not any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) for n in ast.walk(function))


def _must_fail_clone(text: str, test: TestDef, new: str, rng: random.Random) -> str:
    """The real test's own text under a new name, its first assertion turned; where it has
    none that can be turned, it fails at its end instead."""
    block = text[test.block[0]:test.block[1]].rstrip("\n") + "\n"
    offset = test.name_span[0] - test.block[0]
    block = block[:offset] + new + block[offset + len(test.name):]
    turned = _turn(block)
    if turned is not None:
        return turned
    import textwrap

    node = ast.parse(textwrap.dedent(block)).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    first_line = block.split("\n", 1)[0]
    column = len(first_line) - len(first_line.lstrip()) + node.body[0].col_offset  # the body's own level
    return block + " " * column + "raise AssertionError('unexpected result')\n"


def _indent(code: str, column: int) -> str:
    pad = " " * column
    return "".join(pad + line if line.strip() else line for line in code.splitlines(keepends=True))


def _must_pass(new: str, method: bool, column: int, rng: random.Random) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    if method:
        code = f"def {new}(self):\n    self.assertEqual({a} + {b}, {a + b})\n"
    else:
        code = f"def {new}():\n    assert {a} + {b} == {a + b}\n"
    return _indent(code, column)


def rewrite(files: dict[str, str], expected: set[str], rng: random.Random, canaries: int = 2) -> Rewrite:
    """Rename every expected test, and add `canaries` must-fail clones and must-pass tests."""
    out = Rewrite()
    taken: set[str] = set()
    found = {rel: discover(rel, text) for rel, text in files.items()}
    for rel, tests in found.items():
        for test in tests:
            taken.add(test.name)
    templates = [(rel, t) for rel, tests in found.items() for t in tests
                 if t.test_id in expected and _may_clone(files[rel][t.block[0]:t.block[1]])]
    # a test whose own assertion can be turned makes a canary indistinguishable from it: those first
    turnable = [(rel, t) for rel, t in templates if _turn(files[rel][t.block[0]:t.block[1]]) is not None]
    templates = turnable or templates
    picks = [rng.choice(templates) for _ in range(canaries)] if templates else []
    for rel, text in files.items():
        edits: list[tuple[int, int, str]] = []
        for test in found[rel]:
            if test.test_id not in expected:
                continue
            new = fresh_name(rng, "test_", taken)
            edits.append((test.name_span[0], test.name_span[1], new))
            out.real[test.test_id.rsplit("::", 1)[0] + "::" + new] = test.test_id
        for pick_rel, test in picks:
            if pick_rel != rel:
                continue
            prefix = test.test_id.rsplit("::", 1)[0]
            method = prefix.count("::") == 1
            column = 4 if method else 0
            failing, passing = fresh_name(rng, "test_", taken), fresh_name(rng, "test_", taken)
            clone = _must_fail_clone(text, test, failing, rng)
            trivial = _must_pass(passing, method, column, rng)
            out.template[f"{prefix}::{failing}"] = test.test_id
            first, second = (clone, trivial) if rng.random() < 0.5 else (trivial, clone)
            edits.append((test.block[1], test.block[1], "\n" + first + "\n" + second))
            out.must_fail.append(f"{prefix}::{failing}")
            out.must_pass.append(f"{prefix}::{passing}")
            out.where[f"{prefix}::{failing}"] = out.where[f"{prefix}::{passing}"] = rel
        out.files[rel] = _rename(text, edits)
    return out


def _rename(text: str, edits: list[tuple[int, int, str]]) -> str:
    from evaluator.languages.base import replace_spans

    return replace_spans(text, edits)


def original_id(harness_id: str, rewrite: Rewrite) -> tuple[str, str | None]:
    """(kind, original) for a reported pytest id: 'real' with the task's id, 'canary' or 'other'.

    Parametrized ids keep their `[...]` suffix on the original."""
    base, bracket, params = harness_id.partition("[")
    if base in rewrite.real:
        return "real", rewrite.real[base] + (bracket + params if bracket else "")
    if base in rewrite.must_fail or base in rewrite.must_pass:
        return "canary", base
    return "other", harness_id
