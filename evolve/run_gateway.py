"""The run's gateway: where it listens, and who gets access through it.

The engine starts one (or is handed one) for a run: a private Unix socket
in a short folder of its own (socket paths are limited to 107 bytes; the
sandbox user must be able to reach it), the run's backends and its token
and cost budget, and a spool in the run's folder that keeps every answered
call until the archive has it (llm.accounting). Every unit's model access is issued by its
`GatewayIssuer`, so the socket path is read in one place.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from evolve.model_access import GatewayIssuer
from llm.config import Budget, GatewayConfig
from llm.gateway import Gateway

if TYPE_CHECKING:
    from archive.repository import ArchiveRepository
    from evolve.config import RunConfig


class RunGateway:
    def __init__(self, config: RunConfig, repo: ArchiveRepository, run_id: int, gateway: Gateway | None = None,
                 *, spool: Path | None = None) -> None:
        self._socket_dir: tempfile.TemporaryDirectory[str] | None = None
        self._owned = gateway is None
        self.gateway = gateway or self._start(config, repo, spool)
        self.issuer = GatewayIssuer(self.gateway, run_id)

    def _start(self, config: RunConfig, repo: ArchiveRepository, spool: Path | None) -> Gateway:
        self._socket_dir = tempfile.TemporaryDirectory(prefix="clade-gw-")
        Path(self._socket_dir.name).chmod(0o755)  # the sandbox user must reach the socket
        budget = config.budget
        return Gateway(GatewayConfig(
            backends=config.models.backends,
            socket_path=Path(self._socket_dir.name) / "llm.sock",
            run_budget=Budget(tokens=budget.tokens, usd=budget.usd),
        ), repo=repo, spool=spool).start()

    def flush(self) -> None:
        """Wait until every call answered so far is in the archive."""
        self.gateway.flush()

    def stop(self) -> None:
        if self._owned:
            self.gateway.stop()
        if self._socket_dir is not None:
            self._socket_dir.cleanup()
            self._socket_dir = None
