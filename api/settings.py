"""What one `clade serve` process is configured with.

Kept apart from the app so that tests, the benchmark and `make demo` can
build a server with other settings (a stub run launcher, short event
streams) without touching the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    # Folders a run configuration posted over HTTP may name (prompt folders,
    # benchmark files): anything else is refused with a 422. CLADE_HOME and
    # the folder the server was started in are always allowed.
    allowed_dirs: list[Path] = field(default_factory=list)
    # An event stream is closed after this long (the browser's EventSource
    # reconnects by itself with Last-Event-ID, so nothing is missed).
    sse_max_seconds: float = 300.0
    sse_poll_seconds: float = 0.5
    sse_heartbeat_seconds: float = 15.0

    def config_roots(self) -> list[Path]:
        roots = [self.home.root, Path.cwd(), *self.allowed_dirs]
        unique: list[Path] = []
        for root in roots:
            resolved = root.expanduser().resolve()
            if resolved not in unique:
                unique.append(resolved)
        return unique
