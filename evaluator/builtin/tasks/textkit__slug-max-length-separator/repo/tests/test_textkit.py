from textkit import camel_case, most_common, slugify, snake_case, title_case, truncate, word_count, wrap


def test_slugify_basic():
    assert slugify("Hello, World!") == "hello-world"


def test_slugify_custom_separator():
    assert slugify("a b c", sep="_") == "a_b_c"


def test_wrap_short_words():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_wrap_rejects_zero_width():
    import pytest

    with pytest.raises(ValueError):
        wrap("abc", 0)


def test_truncate():
    assert truncate("hello world", 8) == "hello..."
    assert truncate("short", 10) == "short"


def test_title_case_middle_small_word():
    assert title_case("war and peace") == "War and Peace"


def test_snake_case_simple():
    assert snake_case("parseResponse") == "parse_response"


def test_camel_case_simple():
    assert camel_case("parse_response") == "parseResponse"


def test_word_count_plain():
    assert word_count("one two three") == 3


def test_most_common():
    assert most_common("a b a c a b", 2) == [("a", 3), ("b", 2)]
