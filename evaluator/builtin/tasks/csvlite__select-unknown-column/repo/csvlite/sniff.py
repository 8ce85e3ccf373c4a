"""Guessing the delimiter of CSV text."""

CANDIDATES = (",", ";", "\t", "|")


def sniff(text, candidates=CANDIDATES):
    """The candidate that splits the first lines into the same number (> 1) of fields.

    Delimiters inside quoted fields do not count. Falls back to a comma.
    """
    from csvlite.reader import parse_line

    lines = [line for line in text.splitlines() if line.strip()][:5]
    best, best_fields = ",", 1
    for candidate in candidates:
        counts = {len(parse_line(line, candidate)) for line in lines}
        if len(counts) == 1:
            fields = counts.pop()
            if fields > best_fields:
                best, best_fields = candidate, fields
    return best
