"""Durations, business days, human-friendly times and intervals."""
