"""Keep a bounded amount of a command's output: its head and its tail.

A flood (``yes``, a runaway log) must not fill the host's memory, so only
``cap`` bytes are kept however much is printed. The middle is the part to
drop: a compiler's first error is at the start, a test run's summary at the
end. The stream is still read to its end so the command does not block on
a full pipe and can finish normally.
"""

from __future__ import annotations


class HeadTail:
    """Accumulates bytes, keeping the first ``cap // 2`` and the last ``cap - cap // 2``."""

    def __init__(self, cap: int) -> None:
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            # Trim lazily (at twice the cap) so a stream of tiny frames stays linear.
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > self._head_cap + self._tail_cap

    def getvalue(self) -> bytes:
        """The kept output; when truncated, a marker line says how much was dropped."""
        tail = bytes(self._tail[-self._tail_cap :]) if self._tail_cap else b""
        if not self.truncated:
            return bytes(self._head) + bytes(self._tail)
        dropped = self.total - len(self._head) - len(tail)
        marker = f"\n[clade: {dropped} bytes of output dropped]\n".encode()
        return bytes(self._head) + marker + tail


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def first_line(text: str, limit: int = 300) -> str:
    """The first non-blank line of a command's output, cut to `limit` characters ("" if none)."""
    lines = _lines(text)
    return lines[0][:limit] if lines else ""


def last_line(text: str, limit: int = 300) -> str:
    """The last non-blank line (where a failing command usually says why), cut to `limit` ("" if none)."""
    lines = _lines(text)
    return lines[-1][:limit] if lines else ""
