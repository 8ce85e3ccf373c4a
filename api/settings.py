"""What one `clade serve` process is configured with.

Kept apart from the app so that tests, the benchmark and `make demo` can
build a server with other settings (a stub run launcher, short event
streams) without touching the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from api.backends import BackendRegistry
from archive import CladeHome

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass
class ServerSettings:
    home: CladeHome
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # The model backends a posted run may name (api/backends.py): set by
    # whoever runs the server (`clade serve --backends FILE`); by default
    # the one `local` backend, the model `clade llm serve` serves.
    backends: BackendRegistry = field(default_factory=BackendRegistry.default)
    # Folders a run configuration posted over HTTP may name benchmark files
    # or checkouts in: anything else is refused with a 422. CLADE_HOME is
    # always allowed (the server's working folder is not: it may be $HOME).
    allowed_dirs: list[Path] = field(default_factory=list)
    # The largest request body read (a run configuration is a few KiB);
    # a larger one gets 413 before any of it is parsed.
    max_body_bytes: int = 1024**2
    # An event stream is closed after this long (the browser's EventSource
    # reconnects by itself with Last-Event-ID, so nothing is missed).
    sse_max_seconds: float = 300.0
    sse_poll_seconds: float = 0.5
    sse_heartbeat_seconds: float = 15.0
    # Event streams open at once, per client (its address: every client of
    # one server holds the same token) and in all; one more gets 429. Their
    # polls share a few threads of their own, so that streams never hold
    # back the server's other requests.
    sse_max_streams_per_client: int = 8
    sse_max_streams: int = 32
    sse_poll_threads: int = 4
    sse_retry_after_seconds: int = 5

    def config_roots(self) -> list[Path]:
        roots = [self.home.root, *self.allowed_dirs]
        unique: list[Path] = []
        for root in roots:
            resolved = root.expanduser().resolve()
            if resolved not in unique:
                unique.append(resolved)
        return unique
