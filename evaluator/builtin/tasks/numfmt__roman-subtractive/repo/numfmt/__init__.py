from numfmt.roman import from_roman, to_roman
from numfmt.sizes import human_size, parse_size
from numfmt.words import ordinal

__all__ = ["from_roman", "human_size", "ordinal", "parse_size", "to_roman"]
