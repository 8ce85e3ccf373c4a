"""Connections to the gateway, bounded: a sandbox may open as many as it likes.

uvicorn on its own accepts every connection and keeps one that has sent
nothing, or half a request, for ever (its keep-alive timer only starts
after a response), so one sandbox could hold tens of thousands of
connections and take the gateway's file descriptors from everyone. The
gateway runs uvicorn with `GuardedProtocol` (uvicorn's httptools protocol
plus a guard), which

- counts open connections per listener (the Unix socket that sandboxes
  share, the loopback TCP port that only the host can reach) and per
  connecting process on the socket (its pid, from SO_PEERCRED: the kernel's
  word, not the client's);
- refuses a connection beyond the per-process cap at once (HTTP 503, then
  closed);
- at the listener's cap, makes room by closing the oldest *idle* connection
  (no request being served) of the process that holds the most, and refuses
  the newcomer only when every connection is serving a request;
- gives every request `request_timeout_s` to arrive in full (request line,
  headers and body), from its first byte, or from the connection's opening
  (HTTP 408, closed); an idle keep-alive connection closes after
  `keep_alive_s` (uvicorn's own timer);
- closes a connection whose request line and headers pass
  `max_header_bytes` (HTTP 431), and answers malformed HTTP with a JSON 400
  without logging a warning for each.

Everything here runs on the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)
# uvicorn logs a warning for every malformed request: a sandbox could fill the log with them.
_protocol_log = logging.getLogger("llm.gateway.http")

SOCKET, TCP = "socket", "tcp"
_PEERCRED = struct.Struct("3i")
_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def raw_response(status: int, message: str, code: str, type_: str = "invalid_request_error") -> bytes:
    """A complete HTTP/1.1 response with OpenAI's error body and `connection: close`."""
    body = json.dumps({"error": {"message": message, "type": type_, "code": code, "param": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    return head.encode() + b"\r\n" + body


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 512
    max_connections_per_peer: int = 64
    max_tcp_connections: int = 256
    request_timeout_s: float = 15.0
    max_header_bytes: int = 64 * 1024


def fd_headroom(socket_cap: int, tcp_cap: int) -> tuple[int, int]:
    """The caps, lowered if together they would take more than 3/4 of the
    process's file-descriptor limit (the rest is for the archive, the
    backends, Docker, the logs)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return socket_cap, tcp_cap
    room = max(soft * 3 // 4, 16)
    if socket_cap + tcp_cap <= room:
        return socket_cap, tcp_cap
    scale = room / (socket_cap + tcp_cap)
    lowered = max(int(socket_cap * scale), 8), max(int(tcp_cap * scale), 8)
    log.warning("gateway: RLIMIT_NOFILE is %d, so connections are capped at %d (socket) and %d (TCP) instead of "
                "%d and %d; raise `ulimit -n` to allow more", soft, *lowered, socket_cap, tcp_cap)  # fmt: skip
    return lowered


class ConnectionGuard:
    """Who is connected, and the caps; shared by all connections of one gateway."""

    def __init__(self, limits: ConnectionLimits, refused: Counter[str]) -> None:
        self.limits = limits
        socket_cap, tcp_cap = fd_headroom(limits.max_connections, limits.max_tcp_connections)
        self.caps = {SOCKET: socket_cap, TCP: tcp_cap}
        self.refused = refused  # the gateway's counter of refusals, by reason
        self.open = {SOCKET: 0, TCP: 0}
        self.peak = {SOCKET: 0, TCP: 0}
        self.evicted = 0
        # listener -> peer (pid, or None) -> connections, oldest first
        self._groups: dict[str, dict[int | None, OrderedDict[GuardedProtocol, None]]] = {SOCKET: {}, TCP: {}}

    def admit(self, conn: GuardedProtocol, transport: asyncio.BaseTransport) -> str | None:
        """Register a new connection; the reason it is refused, or None."""
        kind, peer = identify(transport)
        conn.kind, conn.peer = kind, peer
        groups = self._groups[kind]
        group = groups.get(peer)
        # A peer the kernel cannot name to us (pid 0: another pid namespace) has no cap of its own.
        if peer is not None and group is not None and len(group) >= self.limits.max_connections_per_peer:
            return "peer_connection_limit"
        if self.open[kind] >= self.caps[kind] and not self._make_room(kind):
            return "connection_limit"
        groups.setdefault(peer, OrderedDict())[conn] = None
        self.open[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.open[kind])
        conn.registered = True
        return None

    def release(self, conn: GuardedProtocol) -> None:
        if not conn.registered:
            return
        conn.registered = False
        groups = self._groups[conn.kind]
        group = groups.get(conn.peer)
        if group is not None:
            group.pop(conn, None)
            if not group:
                del groups[conn.peer]
        self.open[conn.kind] -= 1

    def _make_room(self, kind: str) -> bool:
        """Close the oldest idle connection of the peer that holds the most."""
        for _, group in sorted(self._groups[kind].items(), key=lambda item: len(item[1]), reverse=True):
            victim = next((c for c in group if not c.busy), None)
            if victim is not None:
                self.evicted += 1
                self.refused["connection_evicted"] += 1
                victim.close_now()
                return True
        return False


def identify(transport: asyncio.BaseTransport) -> tuple[str, int | None]:
    """(listener kind, peer pid for a Unix socket else None)."""
    sock = transport.get_extra_info("socket")
    family = getattr(sock, "family", None)
    if family != socket.AF_UNIX:
        return TCP, None
    try:
        pid, _, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    except (OSError, AttributeError, struct.error):  # not Linux, or the socket is gone already
        return SOCKET, None
    return SOCKET, pid or None


class _QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """uvicorn's per-connection logger with warnings turned into debug lines
    ("Invalid HTTP request received." for every malformed request)."""

    @property
    def level(self) -> int:
        return self.logger.getEffectiveLevel()

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)


_QUIET = _QuietLog(_protocol_log, {})


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops, uvicorn calls send_400_response."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the caps and deadlines above.
    `for_guard` makes the subclass that one gateway's server uses."""

    guard: ConnectionGuard

    @classmethod
    def for_guard(cls, guard: ConnectionGuard) -> type[GuardedProtocol]:
        return type("GuardedProtocol", (cls,), {"guard": guard})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _QUIET  # type: ignore[assignment]
        self.kind, self.peer = SOCKET, None
        self.registered = False
        self.refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0  # bytes received while the head is incomplete (a header still growing)
        self._head_size = 0  # exact: request line + headers parsed so far
        self._head_too_large = False
        self._request_bytes = 0

    # -- state ------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A request is being served (its headers have arrived, its response has not gone)."""
        return self.cycle is not None and not self.cycle.response_complete

    def close_now(self, response: bytes | None = None) -> None:
        self._disarm()
        self.guard.release(self)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if response is not None:
                transport.write(response)
            transport.close()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.guard.limits.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        self.guard.refused["request_timeout"] += 1
        started = self.cycle is not None and self.busy and self.cycle.response_started
        partial = self._request_bytes > 0 or self.busy
        timeout = self.guard.limits.request_timeout_s
        response = None
        if partial and not started:
            response = raw_response(408, f"the request did not arrive in full within {timeout:g} s: send the "
                                         "whole request at once", "request_timeout")  # fmt: skip
        self.close_now(response)

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        reason = self.guard.admit(self, transport)
        if reason is not None:
            self.refused = True
            self.transport = transport  # type: ignore[assignment]
            self.guard.refused[reason] += 1
            which = "this process" if reason == "peer_connection_limit" else "the gateway"
            message = (f"too many open connections to the gateway from {which}: close idle ones, "
                       "reuse one, and retry")  # fmt: skip
            transport.write(raw_response(503, message, reason, "server_error"))  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()  # a connection that sends nothing is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.refused:
            return
        self.guard.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused or self.parser is None:
            return
        if not self.busy:  # the start (or the middle) of a request: it has request_timeout_s in all
            self._arm()
            self._request_bytes += len(data)
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        closing = self.transport is None or self.transport.is_closing()
        if not closing and self._reading_head and self._head_bytes > self.guard.limits.max_header_bytes:
            self._refuse_head()  # one header that never ends

    def _refuse_head(self) -> None:
        self.guard.refused["headers_too_large"] += 1
        limit = self.guard.limits.max_header_bytes
        self.close_now(raw_response(431, f"the request line and headers pass {limit} bytes: send fewer or "
                                         "shorter headers", "headers_too_large"))  # fmt: skip

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.guard.limits.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def eof_received(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_size = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the request is all here; the response may take the backend's time
        self._request_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
            return
        self.guard.refused["bad_http"] += 1
        self.close_now(raw_response(400, f"{msg} Send HTTP/1.1 with a JSON body.", "bad_http"))
