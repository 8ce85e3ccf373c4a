"""Budgets that hold exactly, however many callers share them.

Checking "spent < limit" before a call and adding the usage after it lets N
concurrent callers all pass the check with one call's worth left, and
overspend N-fold. Instead each call *reserves* its worst case before it is
forwarded, and gives back what it did not use when it settles:

- a call is let through at once when, for every limited quantity (calls,
  tokens, USD) of its run and of its evaluation, spent + reserved by calls
  in flight + its own worst case <= limit;
- when it does not fit but calls are in flight that may give room back, it
  waits for them to settle and looks again;
- when it does not fit and nothing is in flight, it is refused: HTTP 429
  naming the budget.

The outcome is the one of some sequential order of the same calls, so a
calls budget of N lets exactly N calls through under any concurrency, and a
token or USD budget is never exceeded as long as calls stay within their
worst case (a request's `max_tokens`; without it, the configured reserve).

Everything here runs on the gateway's event loop: no thread locks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from llm.config import Budget


@dataclass
class Usage:
    calls: int = 0
    tokens: int = 0
    usd: float = 0.0

    def add(self, other: Usage, sign: int = 1) -> None:
        self.calls += sign * other.calls
        self.tokens += sign * other.tokens
        self.usd += sign * other.usd


@dataclass
class Ledger:
    """Spend and reservations of one run or one evaluation."""

    kind: str  # "run" or "evaluation"
    key: int
    limit: Budget
    spent: Usage = field(default_factory=Usage)
    reserved: Usage = field(default_factory=Usage)
    in_flight: int = 0

    def overflow(self, need: Usage) -> str | None:
        """The first limited quantity that `need` would push over the limit, or None."""
        limit, spent, reserved = self.limit, self.spent, self.reserved
        if limit.calls is not None and spent.calls + reserved.calls + need.calls > limit.calls:
            return "calls"
        if limit.tokens is not None and spent.tokens + reserved.tokens + need.tokens > limit.tokens:
            return "tokens"
        # A hair of slack so that float sums of prices do not refuse an exact fit.
        if limit.usd is not None and spent.usd + reserved.usd + need.usd > limit.usd + 1e-12:
            return "usd"
        return None

    def describe(self, quantity: str, need: Usage) -> str:
        spent, limit = self.spent, self.limit
        label = f"{self.kind} {self.key}"
        if quantity == "calls":
            return f"budget exceeded: the call budget of {label} is used up ({spent.calls} of {limit.calls} calls made)"
        if quantity == "tokens":
            left = max((limit.tokens or 0) - spent.tokens, 0)
            return (
                f"budget exceeded: the token budget of {label} ({limit.tokens} tokens) has {left} left, and this "
                f"call may need up to {need.tokens} (prompt + max_tokens); a smaller max_tokens may still fit"
            )
        left_usd = max((limit.usd or 0.0) - spent.usd, 0.0)
        return (
            f"budget exceeded: the USD budget of {label} (${limit.usd:.4f}) has ${left_usd:.6f} left, and this "
            f"call may cost up to ${need.usd:.6f}"
        )


class BudgetExceeded(Exception):
    """A call that does not fit a budget (the gateway answers 429)."""

    def __init__(self, ledger: Ledger, quantity: str, need: Usage) -> None:
        self.kind, self.key, self.quantity = ledger.kind, ledger.key, quantity
        super().__init__(ledger.describe(quantity, need))


@dataclass
class Reservation:
    ledgers: list[Ledger]
    need: Usage
    settled: bool = False


class BudgetKeeper:
    """All ledgers of one gateway. Use from the gateway's event loop only:
    every change is synchronous there, so check-and-reserve is atomic, and
    settling needs no await (it must also run when a call is cancelled)."""

    def __init__(self) -> None:
        self._ledgers: dict[tuple[str, int], Ledger] = {}
        self._waiters: list[asyncio.Future[None]] = []

    def ledger(self, kind: str, key: int) -> Ledger | None:
        return self._ledgers.get((kind, key))

    def open(self, kind: str, key: int, limit: Budget, spent: Usage | None = None) -> Ledger:
        """The ledger of (kind, key), created with `spent` (what earlier
        gateways spent, from the archive) if it is new."""
        ledger = self._ledgers.get((kind, key))
        if ledger is None:
            ledger = self._ledgers[(kind, key)] = Ledger(kind, key, limit, spent or Usage())
        return ledger

    def set_limit(self, kind: str, key: int, limit: Budget) -> None:
        """Change a limit; callers waiting on the old one look again."""
        ledger = self._ledgers.get((kind, key))
        if ledger is not None:
            ledger.limit = limit
            self._wake()

    async def reserve(self, ledgers: list[Ledger], need: Usage) -> Reservation:
        """Reserve `need` on every ledger at once, waiting while calls in
        flight may still give room back; raise BudgetExceeded otherwise."""
        while True:
            blocked = [(lg, q) for lg in ledgers if (q := lg.overflow(need)) is not None]
            if not blocked:
                for ledger in ledgers:
                    ledger.reserved.add(need)
                    ledger.in_flight += 1
                return Reservation(ledgers, need)
            if all(ledger.in_flight == 0 for ledger, _ in blocked):
                ledger, quantity = blocked[0]
                raise BudgetExceeded(ledger, quantity, need)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def settle(self, reservation: Reservation, used: Usage) -> None:
        """Replace the reservation by what the call really used (once)."""
        if reservation.settled:
            return
        reservation.settled = True
        for ledger in reservation.ledgers:
            ledger.reserved.add(reservation.need, sign=-1)
            ledger.in_flight -= 1
            ledger.spent.add(used)
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
