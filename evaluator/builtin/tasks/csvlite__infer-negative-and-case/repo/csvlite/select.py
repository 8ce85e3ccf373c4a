"""Picking columns and rows from dict rows."""


def select_columns(rows, columns):
    """Keep only `columns` (in that order). An unknown column is an error."""
    if rows:
        known = list(rows[0])
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise KeyError(f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(known)}")
    return [{c: row[c] for c in columns} for row in rows]


def where(rows, column, predicate):
    return [row for row in rows if predicate(row[column])]
