"""A small CSV reader/writer."""

from csvlite.infer import convert, infer_value
from csvlite.reader import parse_line, read, read_dicts
from csvlite.select import select_columns, where
from csvlite.writer import format_row, write

__all__ = ["convert", "format_row", "infer_value", "parse_line", "read", "read_dicts", "select_columns", "where", "write"]
