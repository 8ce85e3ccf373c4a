"""INI text -> {section: {key: raw value}}."""

import re

from confparse.errors import ConfigError

_SECTION = re.compile(r"^\[([^\]]+)\]$")
_INLINE_COMMENT = re.compile(r"\s+[#;].*$")


def parse(text):
    sections = {}
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1).strip(), {})
            continue
        if current is None:
            raise ConfigError(f"line {number}: a key outside any [section]")
        if "=" not in line:
            raise ConfigError(f"line {number}: expected 'key = value', got {line!r}")
        key, value = line.split("=", 1)
        value = _INLINE_COMMENT.sub("", value.strip())
        current[key.strip().lower()] = value
    return sections
