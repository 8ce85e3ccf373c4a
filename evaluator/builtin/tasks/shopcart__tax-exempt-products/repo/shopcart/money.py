"""Cents, and how they are shown and rounded."""

from decimal import ROUND_HALF_UP, Decimal


def round_cents(amount):
    """Round a Decimal (or number) amount of cents to a whole cent, half up."""
    return int(Decimal(str(amount)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def format_price(cents, symbol="$"):
    """1234567 -> '$12,345.67'; negative amounts as '-$5.00'."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{symbol}{whole:,}.{part:02d}"
