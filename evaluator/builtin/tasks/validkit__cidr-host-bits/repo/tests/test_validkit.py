from validkit.email import is_valid_email
from validkit.network import ip_in_cidr, is_ipv4, parse_cidr
from validkit.password import check_password


def test_plain_email():
    assert is_valid_email("ada@example.org")


def test_email_needs_domain_dot():
    assert not is_valid_email("ada@localhost")


def test_ipv4_valid():
    assert is_ipv4("192.168.0.1")


def test_ipv4_wrong_parts():
    assert not is_ipv4("1.2.3")


def test_cidr():
    assert ip_in_cidr("10.1.2.3", "10.0.0.0/8")
    assert not ip_in_cidr("11.0.0.1", "10.0.0.0/8")


def test_parse_cidr():
    assert parse_cidr("192.168.0.0/16") == (0xC0A80000, 16)


def test_strong_password():
    assert check_password("correct horse battery 9").score == 4
