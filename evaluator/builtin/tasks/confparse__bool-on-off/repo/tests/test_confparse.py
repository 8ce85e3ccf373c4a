import pytest

from confparse import Config, ConfigError

TEXT = """
# a comment
[server]
host = example.org
port = 8080
debug = false
url = http://${host}:${port}/
names = a, b ,c
"""


def test_get():
    assert Config.from_text(TEXT).get("server", "host") == "example.org"


def test_get_int():
    assert Config.from_text(TEXT).get_int("server", "port") == 8080


def test_get_bool_false():
    assert Config.from_text(TEXT).get_bool("server", "debug") is False


def test_same_section_reference():
    assert Config.from_text(TEXT).get("server", "url") == "http://example.org:8080/"


def test_list():
    assert Config.from_text(TEXT).get_list("server", "names") == ["a", "b", "c"]


def test_missing_key():
    with pytest.raises(ConfigError):
        Config.from_text(TEXT).get("server", "nope")


def test_default():
    assert Config.from_text(TEXT).get("server", "nope", "x") == "x"


def test_keys_case_insensitive():
    assert Config.from_text("[s]\nKey = v\n").get("s", "KEY") == "v"
