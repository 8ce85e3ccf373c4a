"""Reading C-like test files (Go, Rust, C++) far enough to find, rename and clone tests.

Not a parser: a scanner that knows where strings, characters and comments
start and end, so that a brace inside `"{"` or `// }` does not end a block.
The hidden test files it reads come from the task, never from the patch.
"""

from __future__ import annotations

import re


def _skip_string(text: str, i: int, raw_rust: bool) -> int:
    """Index after the string literal that starts at text[i]."""
    if raw_rust:  # r"..." or r#"..."#
        match = re.compile(r'r(#*)"').match(text, i)
        assert match is not None
        end = text.find('"' + match.group(1), match.end())
        return len(text) if end < 0 else end + 1 + len(match.group(1))
    quote = text[i]
    if quote == "`":  # Go raw string
        end = text.find("`", i + 1)
        return len(text) if end < 0 else end + 1
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        if text[j] == "\n" and quote == "'":
            return j
        j += 1
    return len(text)


_CHAR = re.compile(r"'(\\.[^']*|[^'\\\n])'")


def code_mask(text: str) -> list[bool]:
    """True at every index that is code (not inside a string, character or comment)."""
    mask = [True] * len(text)
    i = 0
    while i < len(text):
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = _skip_string(text, i, raw_rust=True)
        elif c in '"`':
            end = _skip_string(text, i, raw_rust=False)
        elif c == "'":
            match = _CHAR.match(text, i)
            end = match.end() if match else i + 1  # a Rust lifetime: just the quote
        else:
            i += 1
            continue
        for k in range(i, end):
            mask[k] = False
        i = end
    return mask


def matching_brace(text: str, mask: list[bool], open_at: int) -> int:
    """Index of the `}` that closes the `{` at open_at; ValueError when unbalanced."""
    depth = 0
    for i in range(open_at, len(text)):
        if not mask[i]:
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced braces")


def depth_at(text: str, mask: list[bool], index: int) -> int:
    """How many blocks are open at `index`."""
    depth = 0
    for i in range(index):
        if mask[i] and text[i] == "{":
            depth += 1
        elif mask[i] and text[i] == "}":
            depth -= 1
    return depth


def next_code(text: str, mask: list[bool], start: int, char: str) -> int:
    """Index of the next `char` outside strings and comments, or -1."""
    for i in range(start, len(text)):
        if mask[i] and text[i] == char:
            return i
    return -1
