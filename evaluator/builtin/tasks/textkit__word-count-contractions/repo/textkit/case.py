"""Changing the case of words and identifiers."""

import re

SMALL_WORDS = frozenset({"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to"})


def title_case(text, small_words=SMALL_WORDS):
    """Capitalise every word except small words; the first and the last word are always capitalised."""
    words = text.split()
    result = []
    for i, word in enumerate(words):
        lower = word.lower()
        if lower in small_words and 0 < i < len(words) - 1:
            result.append(lower)
        else:
            result.append(lower[:1].upper() + lower[1:])
    return " ".join(result)


def snake_case(name):
    """`parseHTTPResponse`, `ParseHttpResponse`, `parse-http response` -> `parse_http_response`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[-\s]+", "_", s)
    return s.lower()


def camel_case(name):
    """`parse_http_response` -> `parseHttpResponse`."""
    parts = [p for p in re.split(r"[_\-\s]+", snake_case(name)) if p]
    if not parts:
        return ""
    return parts[0] + "".join(p.capitalize() for p in parts[1:])
