"""Per-sandbox tokens: who is calling, so that every call is accounted.

The platform issues one token per sandbox (or per platform-side purpose such
as a diagnosis) and passes it as `CLADE_LLM_TOKEN`; the gateway maps it back
to the run, node and evaluation the call is spent for. A token is a random
secret, not a signed claim: it means something only to the gateway that
issued it, dies with it, and can be revoked the moment its sandbox ends.

A token also names the one backend (`model`, a gateway model name) its role
may use; the platform always passes it. A token issued without one may use
any model the gateway serves (kept for callers that predate the binding).

Revoked tokens are remembered (the most recent `REMEMBER_REVOKED`), so that
the gateway can tell "this token has ended" from "this was never a token"
when it refuses and counts a late call.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

TOKEN_PREFIX = "clade-"
REMEMBER_REVOKED = 100_000


@dataclass(frozen=True)
class Grant:
    """What a token stands for."""

    token: str
    run_id: int | None = None
    node_id: int | None = None
    evaluation_id: int | None = None
    purpose: str | None = None  # e.g. "solve", "self_improve", "diagnose", "chat"
    issued_at: float = 0.0
    model: str | None = None  # the gateway model name this token may use; None: any

    def describe(self) -> str:
        """Who the token was for, without the token itself (for logs)."""
        parts = [f"{name} {value}" for name, value in (("run", self.run_id), ("node", self.node_id),
                 ("evaluation", self.evaluation_id), ("purpose", self.purpose), ("model", self.model))
                 if value is not None]  # fmt: skip
        return ", ".join(parts) or "no run"


class TokenRegistry:
    """Thread-safe: the platform issues and revokes from worker threads while
    the gateway's event loop looks tokens up."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._revoked: OrderedDict[str, Grant] = OrderedDict()
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        run_id: int | None = None,
        node_id: int | None = None,
        evaluation_id: int | None = None,
        purpose: str | None = None,
        model: str | None = None,
    ) -> str:
        """A new token for these ids; `model`: the only model name it may use (None: any)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        grant = Grant(token, run_id, node_id, evaluation_id, purpose, time.time(), model)
        with self._lock:
            self._grants[token] = grant
        return token

    def revoke(self, token: str) -> bool:
        """Forget a token; True if it was known. Calls already in flight finish."""
        with self._lock:
            grant = self._grants.pop(token, None)
            if grant is not None:
                self._remember(grant)
            return grant is not None

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
                self._remember(self._grants.pop(token))
            return len(doomed)

    def _remember(self, grant: Grant) -> None:
        self._revoked[grant.token] = grant
        while len(self._revoked) > REMEMBER_REVOKED:
            self._revoked.popitem(last=False)

    def lookup(self, token: str) -> Grant | None:
        # A dict read is atomic under the GIL: no lock on the hot path.
        return self._grants.get(token)

    def revoked(self, token: str) -> Grant | None:
        """The grant of a token that was revoked (recently enough to be remembered)."""
        with self._lock:
            return self._revoked.get(token)

    def __len__(self) -> int:
        return len(self._grants)
