"""Must-fail canaries that read like the real tests: one assertion of a real test, turned.

A canary is a real test's exact text under a fresh name, with its first
assertion made to fail whenever the real test passes: an expected literal
changed to another value of its kind (`1996` → `1997`, `"abc"` → `"abd"`,
`true` → `false`), or, where no side is a literal, the comparison inverted
(`assertEqual` → `assertNotEqual`, `assert_eq!` → `assert_ne!`, `!=` → `==`).
Code that cannot tell which answers are right cannot tell a canary from
the test it was cloned from. The grader calls a passing canary tampering
only when its real twin passed too: then the code returned the very values
the canary rejects, and only forcing the result makes both pass.
"""

from __future__ import annotations

import re

from evaluator.languages import braces

_NUMBER = re.compile(r"-?\d[\d_]*(\.\d+)?([eE][-+]?\d+)?(u8|u16|u32|u64|u128|usize|i8|i16|i32|i64|i128|isize|f32|f64|"
                     r"[uUlLfF]{0,3})?$")


def bump_text(token: str) -> str | None:
    """Another literal of the same kind, as source text; None when `token` is not one."""
    token = token.strip()
    if token in ("true", "false", "True", "False"):
        return {"true": "false", "false": "true", "True": "False", "False": "True"}[token]
    if _NUMBER.match(token):
        digits = re.match(r"-?\d[\d_]*", token)
        assert digits is not None
        value = int(digits.group(0).replace("_", ""))
        return str(value + 1) + token[digits.end():]
    quote = re.match(r"""^([a-zA-Z]*)(['"])(.*)\2$""", token, re.S)
    if quote and "\\" not in quote.group(3) and "{" not in quote.group(3):
        body = quote.group(3)
        for i in range(len(body) - 1, -1, -1):
            c = body[i]
            if c.isalnum() and c.isascii():
                if c.isdigit():
                    new = str((int(c) + 1) % 10)
                elif c.islower():
                    new = chr((ord(c) - 97 + 1) % 26 + 97)
                else:
                    new = chr((ord(c) - 65 + 1) % 26 + 65)
                return f"{quote.group(1)}{quote.group(2)}{body[:i]}{new}{body[i + 1:]}{quote.group(2)}"
    return None


def call_args(text: str, mask: list[bool], open_at: int) -> tuple[list[tuple[int, int]], int]:
    """Spans of the top-level, comma-separated arguments of the call whose `(` is at open_at (an empty
    last one left out: `f()` has none), and the index of its `)`; ValueError when it does not close.
    Java's, JavaScript's and these canaries' one reading of a call."""
    depth, start, spans = 0, open_at + 1, []
    for i in range(open_at, len(text)):
        if not mask[i]:
            continue
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                if text[start:i].strip():
                    spans.append((start, i))
                return spans, i
        elif c == "," and depth == 1:
            spans.append((start, i))
            start = i + 1
    raise ValueError("unbalanced parentheses")


def _args(text: str, mask: list[bool], open_at: int) -> list[tuple[int, int]]:
    """`call_args`' spans; none for a call that does not close."""
    try:
        return call_args(text, mask, open_at)[0]
    except ValueError:
        return []


def _literal_edit(text: str, spans: list[tuple[int, int]]) -> tuple[int, int, str] | None:
    for start, end in spans:
        piece = text[start:end]
        new = bump_text(piece)
        if new is not None:
            lead = len(piece) - len(piece.lstrip())
            return start + lead, start + lead + len(piece.strip()), new
    return None


def rust_body(body: str) -> str | None:
    mask = braces.code_mask(body)
    for match in re.finditer(r"\b(assert_eq|assert_ne|assert)!\s*\(", body):
        if not mask[match.start()]:
            continue
        open_at = match.end() - 1
        spans = _args(body, mask, open_at)
        if not spans:
            continue
        macro = match.group(1)
        if macro == "assert_eq":
            edit = _literal_edit(body, spans[:2]) or (match.start(), match.start() + len("assert_eq"), "assert_ne")
        elif macro == "assert_ne":
            edit = (match.start(), match.start() + len("assert_ne"), "assert_eq")
        else:
            first = spans[0]
            expression = body[first[0]:first[1]]
            lead = len(expression) - len(expression.lstrip())
            expression = expression.strip()
            if expression.startswith("!") and _postfix_only(expression[1:]):
                new = _unwrapped(expression[1:].strip())
            elif _postfix_only(expression):
                new = "!" + expression
            else:
                new = f"!({expression})"
            edit = (first[0] + lead, first[0] + lead + len(expression), new)
        return body[:edit[0]] + edit[2] + body[edit[1]:]
    return None


def _postfix_only(expression: str) -> bool:
    """A path with calls, indexing or fields after it (`a::b(x).c[0]`): `!` in front negates all of it.

    Anything with an operator outside brackets (`f(x) > g(y)`, `!a && b`) is not: `!` there binds to
    the first operand only, and `!f(x) > g(y)` does not even compile for a bool."""
    expression = expression.strip()
    mask = braces.code_mask(expression)
    depth = 0
    for i, c in enumerate(expression):
        if not mask[i]:
            if depth == 0:
                return False  # a literal at the top level: `"a" == x`
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and not (c.isalnum() or c in "_:."):
            return False
    return bool(expression) and depth == 0


def _unwrapped(expression: str) -> str:
    """`(a < b)` → `a < b` when one pair of parentheses holds all of it (rustc warns on the pair)."""
    if expression.startswith("(") and expression.endswith(")"):
        spans = _args(expression, braces.code_mask(expression), 0)
        if len(spans) == 1 and spans[0][1] == len(expression) - 1:
            return expression[1:-1].strip()
    return expression


def cpp_body(body: str) -> str | None:
    mask = braces.code_mask(body)
    for match in re.finditer(r"\b(REQUIRE|CHECK|REQUIRE_FALSE|CHECK_FALSE)\s*\(", body):
        if not mask[match.start()]:
            continue
        spans = _args(body, mask, match.end() - 1)
        if len(spans) != 1:
            continue
        start, end = spans[0]
        macro = match.group(1)
        if macro.endswith("_FALSE"):
            return body[:match.start()] + macro.removesuffix("_FALSE") + body[match.start() + len(macro):]
        expression = body[start:end]
        sides = _split_top(expression, "==")
        if sides is not None:
            left, right = sides
            for side_start, side in ((start, left), (start + len(left) + 2, right)):
                new = bump_text(side)
                if new is not None:
                    lead = len(side) - len(side.lstrip())
                    at = side_start + lead
                    return body[:at] + new + body[at + len(side.strip()):]
            at = start + len(left)
            return body[:at] + "!=" + body[at + 2:]
        return body[:match.start()] + macro + "_FALSE" + body[match.start() + len(macro):]
    return None


def _split_top(expression: str, operator: str) -> tuple[str, str] | None:
    mask = braces.code_mask(expression)
    depth = 0
    for i, c in enumerate(expression):
        if not mask[i]:
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and expression.startswith(operator, i) and expression[i + len(operator):i + len(operator) + 1] != "=":
            return expression[:i], expression[i + len(operator):]
    return None


def go_body(body: str) -> str | None:
    """Invert the condition of the first `if` that guards a t.Error / t.Fatal."""
    mask = braces.code_mask(body)
    for match in re.finditer(r"\bif\s", body):
        if not mask[match.start()]:
            continue
        open_at = braces.next_code(body, mask, match.end(), "{")
        if open_at < 0:
            continue
        try:
            close = braces.matching_brace(body, mask, open_at)
        except ValueError:
            continue
        if not re.search(r"\b\w+\.(Fatal|Fatalf|Error|Errorf|FailNow|Fail)\(", body[open_at:close]):
            continue
        condition = body[match.end():open_at]
        cond_start = match.end()
        at = condition.rfind("!=")  # the comparison comes after any `x := f();` statement
        if at >= 0 and all(mask[cond_start + at + k] for k in range(2)):
            right = condition[at + 2:]
            new = bump_text(right)
            if new is not None:  # `got != "x"`: expect another value, the comparison stays
                lead = cond_start + at + 2 + len(right) - len(right.lstrip())
                return body[:lead] + new + body[lead + len(right.strip()):]
            return body[:cond_start + at] + "==" + body[cond_start + at + 2:]
        bang = re.match(r"\s*(?:[^;]*;\s*)?!", condition)
        if bang and mask[cond_start + bang.end() - 1]:
            at = cond_start + bang.end() - 1
            return body[:at] + body[at + 1:]
    return None
