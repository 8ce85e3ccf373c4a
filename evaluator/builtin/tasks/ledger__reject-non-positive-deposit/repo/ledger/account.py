"""One account and its history."""

from dataclasses import dataclass, field

from ledger.errors import InsufficientFunds


@dataclass
class Entry:
    kind: str
    amount_cents: int
    balance_cents: int
    counterparty: int | None = None  # the other account of a transfer


@dataclass
class Account:
    id: int
    owner: str
    overdraft_limit_cents: int = 0
    balance_cents: int = 0
    history: list = field(default_factory=list)

    def deposit(self, amount_cents, kind="deposit", counterparty=None):
        self.balance_cents += amount_cents
        self.history.append(Entry(kind, amount_cents, self.balance_cents, counterparty))

    def withdraw(self, amount_cents, kind="withdrawal", counterparty=None):
        if amount_cents <= 0:
            raise ValueError("a withdrawal must be positive")
        if self.balance_cents - amount_cents < -self.overdraft_limit_cents:
            raise InsufficientFunds(
                f"account {self.id} cannot pay {amount_cents} cents "
                f"(balance {self.balance_cents}, overdraft limit {self.overdraft_limit_cents})"
            )
        self.balance_cents -= amount_cents
        self.history.append(Entry(kind, -amount_cents, self.balance_cents, counterparty))
