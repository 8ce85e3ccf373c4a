"""Small text helpers."""

from textkit.case import camel_case, snake_case, title_case
from textkit.slug import slugify
from textkit.stats import most_common, word_count, words
from textkit.wrap import truncate, wrap

__all__ = ["camel_case", "most_common", "slugify", "snake_case", "title_case", "truncate", "word_count", "words", "wrap"]
