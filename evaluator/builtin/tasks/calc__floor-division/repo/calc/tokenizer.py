"""Text -> tokens."""

from dataclasses import dataclass


class TokenizeError(ValueError):
    """The text contains a character that starts no token."""


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "lparen", "rparen" or "comma"
    value: str
    pos: int


# Longest first, so that "**" is not read as two "*".
OPERATORS = ("**", "+", "-", "*", "/", "%")
PUNCTUATION = {"(": "lparen", ")": "rparen", ",": "comma"}


def tokenize(text):
    tokens = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < len(text) and text[i + 1].isdigit()):
            start = i
            while i < len(text) and (text[i].isdigit() or text[i] == "."):
                i += 1
            if i < len(text) and text[i] in "eE":
                j = i + 1
                if j < len(text) and text[j] in "+-":
                    j += 1
                if j < len(text) and text[j].isdigit():
                    i = j
                    while i < len(text) and text[i].isdigit():
                        i += 1
            tokens.append(Token("num", text[start:i], start))
            continue
        if ch.isalpha() or ch == "_":
            start = i
            while i < len(text) and (text[i].isalnum() or text[i] == "_"):
                i += 1
            tokens.append(Token("name", text[start:i], start))
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        if ch in PUNCTUATION:
            tokens.append(Token(PUNCTUATION[ch], ch, i))
            i += 1
            continue
        raise TokenizeError(f"unexpected character {ch!r} at position {i}")
    return tokens
