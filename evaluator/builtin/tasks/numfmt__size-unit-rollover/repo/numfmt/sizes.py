"""Byte sizes for people."""

import re

DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB"]
BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def human_size(n, binary=False):
    """1536 -> '1.5 kB' (binary: '1.5 KiB'); bytes below the first step stay whole: '999 B'."""
    base = 1024 if binary else 1000
    units = BINARY if binary else DECIMAL
    if n < base:
        return f"{n} B"
    value = float(n)
    for unit in units[1:]:
        value /= base
        if value < base or unit == units[-1]:
            return f"{value:.1f} {unit}"


def parse_size(text):
    """'1.5 kB' -> 1500, '2 GiB' -> 2147483648, '512' -> 512. Units are case-insensitive."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"cannot read size {text!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    factors = {"": 1, "b": 1}
    for power, (dec, binary) in enumerate(zip(DECIMAL[1:], BINARY[1:]), start=1):
        factors[dec.lower()] = 1000 ** power
        factors[binary.lower()] = 1024 ** power
    if unit not in factors:
        raise ValueError(f"unknown unit {match.group(2)!r} in {text!r}")
    return int(number * factors[unit])
