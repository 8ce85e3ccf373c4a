"""Word statistics."""

import re
from collections import Counter

WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def words(text):
    """The words of `text`, lowercased. A contraction (don't, it's) is one word."""
    return [w.lower() for w in WORD.findall(text)]


def word_count(text):
    return len(words(text))


def most_common(text, n=3):
    """The `n` most frequent words as (word, count), ties in order of first appearance."""
    counts = Counter(words(text))
    return counts.most_common(n)
