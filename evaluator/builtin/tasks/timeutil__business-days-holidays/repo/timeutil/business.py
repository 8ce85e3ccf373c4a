"""Business days: Monday to Friday, minus holidays."""

from datetime import timedelta


def is_business_day(day, holidays=()):
    return day.weekday() < 5


def add_business_days(start, days, holidays=()):
    """The date `days` business days after `start` (before it when negative).

    `start` itself does not count, whether or not it is a business day.
    """
    holidays = set(holidays)
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    current = start
    while remaining:
        current += timedelta(days=step)
        if is_business_day(current, holidays):
            remaining -= 1
    return current


def business_days_between(start, end, holidays=()):
    """Business days in (start, end], or minus those in (end, start] when end < start."""
    if end < start:
        return -business_days_between(end, start, holidays)
    holidays = set(holidays)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current, holidays):
            count += 1
    return count
