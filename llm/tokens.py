"""Per-sandbox tokens: who is calling, so that every call is accounted.

The platform issues one token per sandbox (or per platform-side purpose such
as a diagnosis) and passes it as `CLADE_LLM_TOKEN`; the gateway maps it back
to the run, node and evaluation the call is spent for. A token is a random
secret, not a signed claim: it means something only to the gateway that
issued it, dies with it, and can be revoked the moment its sandbox ends.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

TOKEN_PREFIX = "clade-"


@dataclass(frozen=True)
class Grant:
    """What a token stands for."""

    token: str
    run_id: int | None = None
    node_id: int | None = None
    evaluation_id: int | None = None
    purpose: str | None = None  # e.g. "solve", "self_improve", "diagnose", "chat"
    issued_at: float = 0.0


class TokenRegistry:
    """Thread-safe: the platform issues and revokes from worker threads while
    the gateway's event loop looks tokens up."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        run_id: int | None = None,
        node_id: int | None = None,
        evaluation_id: int | None = None,
        purpose: str | None = None,
    ) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        grant = Grant(token, run_id, node_id, evaluation_id, purpose, time.time())
        with self._lock:
            self._grants[token] = grant
        return token

    def revoke(self, token: str) -> bool:
        """Forget a token; True if it was known. Calls already in flight finish."""
        with self._lock:
            return self._grants.pop(token, None) is not None

    def revoke_where(self, *, run_id: int | None = None, evaluation_id: int | None = None) -> int:
        """Revoke every token of a run (or of an evaluation); returns how many."""
        if run_id is None and evaluation_id is None:
            raise ValueError("name a run_id or an evaluation_id: revoke_where() would revoke every token")
        with self._lock:
            doomed = [
                t
                for t, g in self._grants.items()
                if (run_id is None or g.run_id == run_id)
                and (evaluation_id is None or g.evaluation_id == evaluation_id)
            ]
            for token in doomed:
                del self._grants[token]
            return len(doomed)

    def lookup(self, token: str) -> Grant | None:
        # A dict read is atomic under the GIL: no lock on the hot path.
        return self._grants.get(token)

    def __len__(self) -> int:
        return len(self._grants)
