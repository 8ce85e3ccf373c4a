"""The gateway across machines: a bridge on the driver, a relay on each worker.

Sandboxes reach the model only through a Unix socket mounted into their
container, and the gateway listens only on the driver's machine (on a Unix
socket, and at most on loopback TCP: it holds the provider keys). When work
units run on other machines (the Ray executor), two small byte pipes join
the two ends:

    sandbox ──unix──▶ Relay (worker process) ──TCP──▶ Bridge (driver) ──unix──▶ Gateway

* The **bridge** listens on the driver's cluster address. A connection must
  open with one line, ``CLADE-RELAY 1 <secret>``, where the secret is a
  random 256-bit value made for this run's engine and carried by every work
  unit; anything else is closed without a byte forwarded. After that line it
  pipes bytes to the gateway's Unix socket: the gateway still checks each
  request's own per-sandbox token, and budgets and usage work as on one
  machine.
* The **relay** is a Unix socket in a short private folder of the worker
  machine, started once per worker process (`ensure_relay`) and reused by
  every unit that process runs. Each connection a sandbox (or the worker's
  own diagnosis call) opens becomes one TCP connection to the bridge.

Both are plain asyncio servers on a daemon thread of their own; they do not
parse HTTP, so keep-alive, large bodies and slow answers pass unchanged.
The secret keeps strangers on the network off the gateway; the traffic is
not encrypted (like Ray's own): run the cluster on a private network.
"""

from __future__ import annotations

import asyncio
import atexit
import hmac
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)

MAGIC = b"CLADE-RELAY 1 "
HANDSHAKE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
_CHUNK = 1 << 16


@dataclass(frozen=True)
class BridgeLink:
    """What a worker needs to reach the gateway: the bridge's `host:port` and its secret."""

    address: str
    secret: str

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host.strip("[]"), int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (HTTP clients may half-close)."""
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                  b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Both directions until both ended; an error on either side closes both."""
    tasks = [asyncio.ensure_future(_pipe(a[0], b[1])), asyncio.ensure_future(_pipe(b[0], a[1]))]
    try:
        pending: set[asyncio.Future] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() is not None for t in done if not t.cancelled()):
                break
    finally:
        for task in tasks:
            task.cancel()
        for writer in (a[1], b[1]):
            writer.close()


class _LoopThread:
    """An asyncio server on a daemon thread: start() returns once it listens."""

    name = "clade-pipe"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _listen(self) -> asyncio.AbstractServer:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> Self:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            error, self._error = self._error, None
            self._thread.join(5)
            self._thread = None
            raise error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None


class GatewayBridge(_LoopThread):
    """Driver side: TCP on the cluster address → the gateway's Unix socket."""

    name = "clade-gateway-bridge"

    def __init__(self, gateway_socket: str | os.PathLike[str], host: str, port: int = 0,
                 secret: str | None = None) -> None:
        super().__init__()
        self.gateway_socket = str(gateway_socket)
        self.host, self.port = host, port
        self.secret = secret or secrets.token_urlsafe(32)
        self._expected = MAGIC + self.secret.encode() + b"\n"
        self.refused = 0  # connections closed for a wrong or missing secret

    @property
    def link(self) -> BridgeLink:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return BridgeLink(f"{host}:{self.port}", self.secret)

    async def _listen(self) -> asyncio.AbstractServer:
        server = await asyncio.start_server(self._handle, self.host, self.port, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), HANDSHAKE_TIMEOUT_S)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            line = b""
        if not hmac.compare_digest(line, self._expected):
            self.refused += 1
            peer = writer.get_extra_info("peername")
            log.warning("gateway bridge: refused a connection from %s (no or wrong relay secret)", peer)
            writer.close()
            return
        try:
            upstream = await asyncio.wait_for(asyncio.open_unix_connection(self.gateway_socket), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("gateway bridge: cannot reach the gateway at %s: %s", self.gateway_socket, exc)
            writer.close()
            return
        await _splice((reader, writer), upstream)


class Relay(_LoopThread):
    """Worker side: a Unix socket for sandboxes → the driver's bridge over TCP."""

    name = "clade-gateway-relay"

    def __init__(self, link: BridgeLink, socket_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.link = link
        self.socket_path = str(socket_path)
        self._preamble = MAGIC + link.secret.encode() + b"\n"

    async def _listen(self) -> asyncio.AbstractServer:
        from llm.uds import bind_unix_socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            bind_unix_socket(sock, self.socket_path)  # open to the sandbox user, like the gateway's socket
        except BaseException:
            sock.close()
            raise
        return await asyncio.start_unix_server(self._handle, sock=sock, backlog=512)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.link.host_port()
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("gateway relay: cannot reach the bridge at %s: %s", self.link.address, exc)
            writer.close()
            return
        upstream[1].write(self._preamble)
        await _splice((reader, writer), upstream)

    def stop(self) -> None:
        super().stop()
        Path(self.socket_path).unlink(missing_ok=True)


# -- one relay per worker process and bridge ---------------------------------
_relays: dict[BridgeLink, Relay] = {}
_relays_lock = threading.Lock()


def ensure_relay(link: BridgeLink) -> str:
    """The path of this process's relay socket for `link`, started on first use."""
    with _relays_lock:
        relay = _relays.get(link)
        if relay is None:
            # Short and private: Unix socket paths are limited to 107 bytes, and
            # the folder must be reachable by the sandbox user (the socket is
            # bind-mounted into containers).
            folder = Path(tempfile.mkdtemp(prefix="clade-relay-"))
            folder.chmod(0o755)
            relay = Relay(link, folder / "llm.sock").start()
            _relays[link] = relay
        return relay.socket_path


def stop_relays() -> None:
    with _relays_lock:
        relays = list(_relays.values())
        _relays.clear()
    for relay in relays:
        relay.stop()
        shutil.rmtree(Path(relay.socket_path).parent, ignore_errors=True)


atexit.register(stop_relays)


__all__ = ["BridgeLink", "GatewayBridge", "Relay", "ensure_relay", "stop_relays"]
