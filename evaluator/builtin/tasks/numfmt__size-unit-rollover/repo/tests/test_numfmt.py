import pytest

from numfmt import from_roman, human_size, ordinal, parse_size, to_roman


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4)] == ["1st", "2nd", "3rd", "4th"]


def test_to_roman():
    assert to_roman(1994) == "MCMXCIV"


def test_from_roman_simple():
    assert from_roman("VIII") == 8


def test_to_roman_range():
    with pytest.raises(ValueError):
        to_roman(0)


def test_human_size():
    assert human_size(1536) == "1.5 kB"
    assert human_size(999) == "999 B"


def test_parse_size():
    assert parse_size("1.5 kB") == 1500
    assert parse_size("512") == 512
