"""Durations written like 1d2h30m15s."""

import re

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([a-z])")


def parse_duration(text):
    """'1h30m' -> 5400 seconds. Units: d, h, m, s; spaces between parts are allowed."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    total = 0
    position = 0
    for match in _PART.finditer(text):
        if text[position:match.start()].strip():
            raise ValueError(f"cannot read duration {text!r}")
        number, unit = match.groups()
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}")
        total += int(number) * UNITS[unit]
        position = match.end()
    if text[position:].strip() or position == 0:
        raise ValueError(f"cannot read duration {text!r}")
    return total


def format_duration(seconds):
    """5400 -> '1h 30m'; zero -> '0s'. Inverse of parse_duration."""
    if seconds < 0:
        raise ValueError("duration cannot be negative")
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
