"""Version ranges."""

import re

from semverlite.version import Version

_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$")


def _bounds(operator, version):
    """The comparator as a list of (operator, version) that must all hold."""
    if operator == "^":
        upper = Version(version.major + 1, 0, 0)
        return [(">=", version), ("<", upper)]
    if operator == "~":
        return [(">=", version), ("<", Version(version.major, version.minor + 1, 0))]
    return [(operator or "=", version)]


def _holds(version, operator, bound):
    return {
        "=": version == bound,
        ">": version > bound,
        ">=": version >= bound,
        "<": version < bound,
        "<=": version <= bound,
    }[operator]


def _satisfies_all(version, conjunction):
    for part in conjunction.split():
        match = _COMPARATOR.match(part)
        if not match:
            raise ValueError(f"cannot read comparator {part!r}")
        operator, text = match.groups()
        for op, bound in _bounds(operator, Version.parse(text)):
            if not _holds(version, op, bound):
                return False
    return True


def satisfies(version, range_text):
    """True when `version` (a Version or a string) is in the range."""
    if isinstance(version, str):
        version = Version.parse(version)
    return any(_satisfies_all(version, alternative) for alternative in range_text.split("||"))
