"""Reading CSV text."""

from csvlite.sniff import sniff


class CSVError(ValueError):
    pass


def parse_line(line, delimiter=","):
    """Split one line into fields, honouring double-quoted fields."""
    fields = []
    field = []
    in_quotes = False
    i = 0
    while i < len(line):
        ch = line[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < len(line) and line[i + 1] == '"':
                    field.append('"')
                    i += 1
                else:
                    in_quotes = False
            else:
                field.append(ch)
        elif ch == '"' and not field:
            in_quotes = True
        elif ch == delimiter:
            fields.append("".join(field))
            field = []
        else:
            field.append(ch)
        i += 1
    if in_quotes:
        raise CSVError(f"unterminated quoted field in {line!r}")
    fields.append("".join(field))
    return fields


def read(text, delimiter=","):
    """All rows of `text` as lists of strings; blank lines are skipped.

    With `delimiter=None` the delimiter is guessed (see `csvlite.sniff`).
    """
    if delimiter is None:
        delimiter = sniff(text)
    return [parse_line(line, delimiter) for line in text.splitlines() if line.strip()]


def read_dicts(text, delimiter=","):
    """Rows as dicts keyed by the header row (`delimiter=None`: guessed)."""
    rows = read(text, delimiter)
    if not rows:
        return []
    header, *body = rows
    result = []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CSVError(f"row {number} has {len(row)} fields, the header has {len(header)}")
        result.append(dict(zip(header, row)))
    return result
