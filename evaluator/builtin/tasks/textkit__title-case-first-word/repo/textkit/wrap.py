"""Wrapping and truncating text."""


def wrap(text, width):
    """Split `text` into lines of at most `width` characters.

    Words are kept whole when they fit; a word longer than `width` is cut
    into pieces of `width` characters.
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    lines = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def truncate(text, length, suffix="..."):
    """Cut `text` to at most `length` characters, ending with `suffix` when cut."""
    if len(text) <= length:
        return text
    if length <= len(suffix):
        return suffix[:length]
    return text[: length - len(suffix)].rstrip() + suffix
