"""Say how long ago (or how far ahead) something is, like a person would."""

STEPS = [(86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "minute")]


def relative(seconds):
    """Negative seconds are in the past: -300 -> '5 minutes ago', 7200 -> 'in 2 hours'."""
    size = abs(seconds)
    if size < 45:
        return "just now"
    for unit_seconds, name in STEPS:
        if size >= unit_seconds:
            count = round(size / unit_seconds)
            break
    else:
        count, name = 1, "minute"
    label = f"{count} {name}" + ("" if count == 1 else "s")
    return f"{label} ago" if seconds < 0 else f"in {label}"
