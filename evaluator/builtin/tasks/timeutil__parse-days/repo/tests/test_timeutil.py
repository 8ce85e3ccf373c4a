from datetime import date

import pytest

from timeutil.business import add_business_days, business_days_between
from timeutil.durations import format_duration, parse_duration
from timeutil.humanize import relative
from timeutil.intervals import merge_intervals, overlaps


def test_parse_hours_minutes():
    assert parse_duration("1h30m") == 5400


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_format_hours_minutes():
    assert format_duration(5400) == "1h 30m"


def test_friday_plus_one():
    assert add_business_days(date(2024, 3, 1), 1) == date(2024, 3, 4)


def test_business_days_between():
    assert business_days_between(date(2024, 3, 1), date(2024, 3, 8)) == 5


def test_relative_minutes_ago():
    assert relative(-300) == "5 minutes ago"


def test_just_now():
    assert relative(10) == "just now"


def test_merge_overlapping():
    assert merge_intervals([(1, 3), (2, 6), (8, 9)]) == [(1, 6), (8, 9)]


def test_overlaps():
    assert overlaps((1, 2), (2, 3))
    assert not overlaps((1, 2), (3, 4))
