"""Agent-written text on a terminal: shown, never obeyed.

Reasons, proposals, test output and diffs quote what an agent (or the code
it wrote) printed. A terminal obeys escape sequences in what it is sent —
clearing the screen, rewriting earlier lines, setting the window title —
so every such text is passed through `terminal_safe` before it is printed
for a person (machine output, `--json`, is JSON-escaped already).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` with every control character shown as `\\xNN`."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
