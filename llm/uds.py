"""HTTP over Unix sockets: binding them, naming them as URLs, reaching them.

A sandbox has no network: the gateway's Unix socket, bind-mounted into the
container, is its one way out. The URL convention is the one the seed agent
parses: `http+unix://<percent-encoded socket path>/v1`, e.g.
`http+unix://%2Frun%2Fclade%2Fllm.sock/v1`.
"""

from __future__ import annotations

import os
import socket
import stat
import urllib.parse
from pathlib import Path

import httpx

from llm.errors import GatewayConfigError

UNIX_SCHEME = "http+unix"
# Unix socket paths are limited to 108 bytes (sun_path) on Linux.
MAX_SOCKET_PATH = 107


def unix_base_url(path: str | os.PathLike[str], prefix: str = "/v1") -> str:
    return f"{UNIX_SCHEME}://{urllib.parse.quote(str(path), safe='')}{prefix}"


def split_base_url(base_url: str) -> tuple[str | None, str]:
    """(socket path or None, an http:// base URL to use with that transport)."""
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme != UNIX_SCHEME:
        return None, base_url.rstrip("/")
    return urllib.parse.unquote(parsed.netloc), f"http://localhost{parsed.path}".rstrip("/")


def http_client(base_url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client for an http:// or http+unix:// base URL."""
    path, base = split_base_url(base_url)
    transport = httpx.HTTPTransport(uds=path) if path else None
    return httpx.Client(base_url=base, transport=transport, timeout=timeout, headers=headers)


def async_http_client(
    base_url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None, limits: httpx.Limits | None = None
) -> httpx.AsyncClient:
    path, base = split_base_url(base_url)
    transport = httpx.AsyncHTTPTransport(uds=path, limits=limits or httpx.Limits()) if path else None
    return httpx.AsyncClient(
        base_url=base, transport=transport, timeout=timeout, headers=headers, limits=limits or httpx.Limits()
    )


def bind_unix_socket(sock: socket.socket, path: str | os.PathLike[str], mode: int = 0o666) -> None:
    """Bind `sock` to `path`, replacing a stale socket file left by a crashed
    process, and open it to every local user: the agent in a container runs
    as an unprivileged user of its own, and the token, not the file mode,
    is what authorises it."""
    path = Path(path)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise GatewayConfigError(
            f"the Unix socket path {path} is longer than {MAX_SOCKET_PATH} bytes: choose a shorter one "
            "(e.g. under /tmp or a short CLADE_HOME)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise GatewayConfigError(f"{path} exists and is not a socket: remove it or choose another socket path")
        if _answers(path):
            raise GatewayConfigError(
                f"another process already listens on {path}: stop it or choose another socket path"
            )
        path.unlink()
    sock.bind(str(path))
    os.chmod(path, mode)


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def unix_listener(path: str | os.PathLike[str], backlog: int = 512) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind_unix_socket(sock, path)
    sock.listen(backlog)
    return sock


def tcp_listener(host: str, port: int, backlog: int = 512) -> socket.socket:
    # proto=IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP, and without it Nagle's algorithm and
    # delayed ACKs add ~40 ms to every answer.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock
