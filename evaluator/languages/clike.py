"""Renaming and cloning tests in brace languages (Go, Rust, C++), one shape for all three.

A language gives a regular expression that finds a test's head (its name in
group `name`), whether a found test may serve as a template, and three
pieces of source text: a renamed head, a must-fail clone's body (the real
body, made to fail whatever the code under test does, even if it ends the
test early) and a must-pass test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from evaluator.languages import braces
from evaluator.languages.base import Rewrite, TestDef, replace_spans


@dataclass(frozen=True)
class Shape:
    head: re.Pattern[str]  # matches up to and including the body's `{`; group "name"
    test_id: Callable[[str, str], str]  # (file, name) -> graded id
    fresh: Callable[[random.Random, set[str]], str]
    must_fail: Callable[[str, str, str], str]  # (head with new name, body text, indent) -> source: the fall-back
    turn: Callable[[str], str | None]  # a real body with its first assertion turned (evaluator.languages.mutate)
    must_pass: Callable[[str, random.Random], str]  # (new name, rng) -> source
    template_ok: Callable[[str, str], bool] = lambda head, body: True
    compiled: Callable[[str, int], bool] = lambda text, index: True  # is the test at `index` built at all?
    # The path of the blocks around a test below the top level (Rust's `mod a { mod b {`: "a::b::"),
    # or None when a test there is not one the runner can name.
    scope: Callable[[str, list[bool], int], str | None] = lambda text, mask, index: None


def discover(shape: Shape, rel: str, text: str) -> list[TestDef]:
    mask = braces.code_mask(text)
    found = []
    for match in shape.head.finditer(text):
        start, open_at = match.start(), match.end() - 1
        if not mask[start] or text[open_at] != "{" or not shape.compiled(text, start):
            continue
        prefix = "" if braces.depth_at(text, mask, start) == 0 else shape.scope(text, mask, start)
        if prefix is None:
            continue
        try:
            close = braces.matching_brace(text, mask, open_at)
        except ValueError:
            continue
        name = match.group("name")
        found.append(TestDef(name=name, test_id=shape.test_id(rel, prefix + name), name_span=match.span("name"),
                             block=(start, close + 1), body_open=open_at, scope=prefix,
                             template=not prefix and shape.template_ok(match.group(0), text[open_at + 1:close])))
    return found


def rewrite(shape: Shape, files: dict[str, str], expected: set[str], rng: random.Random,
            canaries: int = 2) -> Rewrite:
    """Fresh names for every expected test; `canaries` must-fail clones and must-pass tests,
    appended to the files of their templates."""
    out = Rewrite()
    taken: set[str] = set()
    found = {rel: discover(shape, rel, text) for rel, text in files.items()}
    for tests in found.values():
        taken.update(t.name for t in tests)
    templates = [(rel, t) for rel, tests in found.items() for t in tests if t.test_id in expected and t.template]
    # a test whose own assertion can be turned makes a canary indistinguishable from it: those first
    turnable = [(rel, t) for rel, t in templates
                if shape.turn(files[rel][t.body_open + 1:t.block[1] - 1]) is not None]
    templates = turnable or templates
    picks = [rng.choice(templates) for _ in range(canaries)] if templates else []
    for rel, text in files.items():
        edits: list[tuple[int, int, str]] = []
        appended: list[str] = []
        for test in found[rel]:
            if test.test_id not in expected:
                continue
            new = shape.fresh(rng, taken)
            edits.append((test.name_span[0], test.name_span[1], new))
            out.real[test.scope + new] = test.test_id
            out.where[test.scope + new] = rel
        for pick_rel, test in picks:
            if pick_rel != rel:
                continue
            failing, passing = shape.fresh(rng, taken), shape.fresh(rng, taken)
            head = text[test.block[0]:test.body_open + 1]
            head = head[: test.name_span[0] - test.block[0]] + failing + head[test.name_span[1] - test.block[0]:]
            body = text[test.body_open + 1:test.block[1] - 1]
            turned = shape.turn(body)
            clone = head + turned + "}" if turned is not None else shape.must_fail(head, body, "    ")
            pieces = [clone, shape.must_pass(passing, rng)]
            rng.shuffle(pieces)
            appended += pieces
            out.must_fail.append(failing)
            out.must_pass.append(passing)
            out.template[failing] = test.test_id
            out.where[failing] = out.where[passing] = rel
        new_text = replace_spans(text, edits)
        if appended:
            new_text = new_text.rstrip("\n") + "\n\n" + "\n\n".join(appended) + "\n"
        out.files[rel] = new_text
    return out
