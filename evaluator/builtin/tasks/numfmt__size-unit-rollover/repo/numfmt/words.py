def ordinal(n):
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 112 -> '112th', 23 -> '23rd'."""
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
