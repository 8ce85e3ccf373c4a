"""Run one `docker exec` with a hard host-side deadline.

The SDK's ``exec_run`` blocks until the command's output ends, which a
hostile command can postpone for ever, and it may hold everything the
command prints in memory. Here the exec's hijacked connection is read with
a socket timeout recomputed from the deadline on every read, frames are
handed to callbacks as they arrive (so callers cap what they keep), and
stdin is fed from a thread so a command that prints while it reads cannot
deadlock us.

This reaches into the SDK's response object for the hijacked socket, as
the SDK itself does in ``exec_start(socket=True)``; reading through the
response's buffered reader rather than the bare socket keeps any bytes that
arrived together with the HTTP headers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

import docker.errors

import docker

Sink = Callable[[bytes], None]

_CHUNK = 64 * 1024
_HEADER = struct.Struct(">BxxxL")
# After its output ends, an exec may take a moment to be reported as exited.
_EXIT_POLL_S = 3.0


@dataclass(frozen=True)
class StreamOutcome:
    """How an exec ended: its exit code (None if unknown) and whether the deadline cut it off."""

    exit_code: int | None
    deadline_hit: bool


def run_exec(
    api: docker.APIClient,
    container_id: str,
    argv: Sequence[str],
    *,
    user: str,
    workdir: str,
    env: Mapping[str, str],
    deadline: float,
    on_stdout: Sink,
    on_stderr: Sink,
    stdin: bytes | IO[bytes] | None = None,
) -> StreamOutcome:
    """Run ``argv`` in the container and stream its output until it ends or ``deadline`` passes.

    ``deadline`` is a `time.monotonic()` value. Exceptions raised by a sink
    stop the stream and propagate (after the connection is closed); the
    command itself keeps running in that case, and the caller must kill it.
    Docker API errors (container gone, daemon down) propagate as raised by
    the SDK.
    """
    exec_id = api.exec_create(
        container_id,
        list(argv),
        stdout=True,
        stderr=True,
        stdin=stdin is not None,
        tty=False,
        user=user,
        workdir=workdir,
        environment=[f"{k}={v}" for k, v in env.items()],
    )["Id"]
    response = api._post_json(  # noqa: SLF001 - see module docstring
        api._url("/exec/{0}/start", exec_id),  # noqa: SLF001
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": False, "Detach": False},
        stream=True,
    )
    api._raise_for_status(response)  # noqa: SLF001
    reader = response.raw._fp.fp  # noqa: SLF001 - BufferedReader over the hijacked socket
    sock = _socket_of(reader)
    writer = None
    if stdin is not None:
        writer = threading.Thread(target=_feed, args=(sock, stdin), daemon=True, name="sandbox-stdin")
        writer.start()
    deadline_hit = False
    try:
        deadline_hit = not _pump(reader, sock, deadline, on_stdout, on_stderr)
    finally:
        _close(response, sock)
    if writer is not None:
        writer.join(timeout=1)
    if deadline_hit:
        return StreamOutcome(exit_code=None, deadline_hit=True)
    return StreamOutcome(exit_code=_exit_code(api, exec_id), deadline_hit=False)


def _socket_of(reader: object) -> socket.socket:
    raw = getattr(reader, "raw", None)
    sock = getattr(raw, "_sock", None)
    if not isinstance(sock, socket.socket):
        raise docker.errors.DockerException(
            "this Docker connection type does not expose a socket for exec streams; "
            "use a unix:// or tcp:// DOCKER_HOST"
        )
    return sock


def _pump(reader: IO[bytes], sock: socket.socket, deadline: float, on_stdout: Sink, on_stderr: Sink) -> bool:
    """Demultiplex Docker's stream frames until EOF (True) or the deadline (False)."""
    buffer = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            sock.settimeout(remaining)
            data = reader.read1(_CHUNK)  # type: ignore[attr-defined]
        except TimeoutError:
            return False
        except (OSError, ValueError):
            data = b""  # connection reset or closed: the stream is over
        if not data:
            return True
        buffer += data
        offset = 0
        while len(buffer) - offset >= _HEADER.size:
            kind, size = _HEADER.unpack_from(buffer, offset)
            end = offset + _HEADER.size + size
            if len(buffer) < end:
                break
            payload = bytes(buffer[offset + _HEADER.size : end])
            (on_stderr if kind == 2 else on_stdout)(payload)
            offset = end
        del buffer[:offset]


def _feed(sock: socket.socket, stdin: bytes | IO[bytes]) -> None:
    """Send stdin, then half-close so the command sees end-of-file."""
    try:
        if isinstance(stdin, (bytes, bytearray, memoryview)):
            sock.sendall(stdin)
        else:
            while chunk := stdin.read(_CHUNK):
                sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
    except (OSError, ValueError):
        pass  # the command exited without reading everything, or we gave up on it


def _close(response: object, sock: socket.socket) -> None:
    for close in (getattr(response, "close", None), sock.close):
        try:
            if close is not None:
                close()
        except OSError:
            pass


def _exit_code(api: docker.APIClient, exec_id: str) -> int | None:
    give_up = time.monotonic() + _EXIT_POLL_S
    pause = 0.002
    while True:
        try:
            info = api.exec_inspect(exec_id)
        except docker.errors.NotFound:
            return None  # the container went away with the exec
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        if time.monotonic() > give_up:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
