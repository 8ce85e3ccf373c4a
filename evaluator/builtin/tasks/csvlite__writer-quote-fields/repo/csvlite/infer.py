"""Turning strings into Python values."""

TRUE = {"true", "yes"}
FALSE = {"false", "no"}


def infer_value(text):
    """'' -> None, '42' -> 42, '-1.5' -> -1.5, 'True'/'yes' -> True, anything else unchanged."""
    stripped = text.strip()
    if stripped == "":
        return None
    lowered = stripped.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            pass
    return text


def convert(rows):
    """infer_value applied to every field of every dict row."""
    return [{key: infer_value(value) for key, value in row.items()} for row in rows]
