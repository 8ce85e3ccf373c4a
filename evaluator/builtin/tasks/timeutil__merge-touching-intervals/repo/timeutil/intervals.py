"""Closed intervals (start, end) of numbers or datetimes."""


def overlaps(a, b):
    """True when the intervals share at least one point."""
    return a[0] <= b[1] and b[0] <= a[1]


def merge_intervals(intervals):
    """Merge overlapping or touching intervals; the result is sorted by start."""
    merged = []
    for start, end in sorted(intervals):
        if start > end:
            raise ValueError(f"interval ({start}, {end}) ends before it starts")
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
