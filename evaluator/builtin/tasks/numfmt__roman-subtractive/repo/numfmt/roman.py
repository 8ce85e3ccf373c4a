"""Roman numerals from 1 to 3999."""

NUMERALS = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(n):
    if not 0 < n < 4000:
        raise ValueError("roman numerals go from 1 to 3999")
    out = []
    for value, letters in NUMERALS:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def from_roman(text):
    """Read a numeral written in the standard (shortest) form; anything else is a ValueError."""
    text = text.strip().upper()
    if not text or any(ch not in VALUES for ch in text):
        raise ValueError(f"not a roman numeral: {text!r}")
    total = sum(VALUES[ch] for ch in text)
    if total < 1 or total > 3999:
        raise ValueError(f"not a roman numeral in standard form: {text!r}")
    return total
