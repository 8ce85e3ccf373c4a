"""One Docker client per process, and a clear error when there is no daemon.

Sandboxes are created from many threads; sharing one client shares its
connection pool (and its one API-version handshake). The client is keyed on
the environment that selects the daemon, so a test or a user that changes
DOCKER_HOST gets a client for the new daemon, not a stale one.
"""

from __future__ import annotations

import os
import threading

import docker.errors
import requests

import docker
from sandbox.errors import DockerUnavailable

_ENV_KEYS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")
_clients: dict[tuple[str | None, ...], docker.DockerClient] = {}
_lock = threading.Lock()

# Enough connections for a worker pool of sandboxes plus their exec streams.
_POOL_SIZE = 32


def _daemon_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def unavailable(exc: BaseException) -> DockerUnavailable:
    """Build the error shown when the daemon cannot be reached, naming the fixes."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DockerUnavailable(
        f"cannot reach the Docker daemon at {_daemon_address()} ({reason}); "
        "start it (`sudo systemctl start docker`, or `sudo dockerd &` where there is no systemd), "
        "make sure this user may use it (root or the `docker` group), "
        "or point DOCKER_HOST at a running daemon"
    )


def get_client() -> docker.DockerClient:
    """Return the process-wide client for the daemon the environment names.

    Raises `DockerUnavailable` when the daemon does not answer a ping.
    """
    key = tuple(os.environ.get(k) for k in _ENV_KEYS)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        try:
            client = docker.from_env(max_pool_size=_POOL_SIZE)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise unavailable(exc) from exc
        _clients[key] = client
        return client


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the daemon went away (as opposed to a bad request)."""
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return True
    return isinstance(exc, docker.errors.DockerException) and "Connection" in str(exc)
