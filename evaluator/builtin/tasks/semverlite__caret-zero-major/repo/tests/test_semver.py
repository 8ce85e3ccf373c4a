import pytest

from semverlite import Version, satisfies


def test_parse_and_str():
    assert str(Version.parse("1.2.3-rc.1+b7")) == "1.2.3-rc.1+b7"


def test_invalid():
    with pytest.raises(ValueError):
        Version.parse("1.2")


def test_order_of_releases():
    assert Version.parse("1.2.3") < Version.parse("1.10.0")


def test_simple_range():
    assert satisfies("1.4.0", ">=1.2.0 <2.0.0")
    assert not satisfies("2.0.0", ">=1.2.0 <2.0.0")


def test_caret_major():
    assert satisfies("1.9.9", "^1.2.3")
    assert not satisfies("2.0.0", "^1.2.3")


def test_tilde():
    assert satisfies("1.2.9", "~1.2.3")
    assert not satisfies("1.3.0", "~1.2.3")
