"""Writing CSV text."""

SPECIAL = ('"', "\n", "\r")


def format_field(value, delimiter=","):
    text = "" if value is None else str(value)
    if delimiter in text or any(ch in text for ch in SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_row(values, delimiter=","):
    return delimiter.join(format_field(v, delimiter) for v in values)


def write(rows, delimiter=","):
    return "".join(format_row(row, delimiter) + "\n" for row in rows)
