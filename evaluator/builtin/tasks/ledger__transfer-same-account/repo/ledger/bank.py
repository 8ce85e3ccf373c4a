"""The bank: accounts by id, transfers, interest, statements."""

from decimal import ROUND_HALF_EVEN, Decimal

from ledger.account import Account
from ledger.errors import UnknownAccount


class Bank:
    def __init__(self):
        self._accounts = {}
        self._next_id = 1

    def open_account(self, owner, overdraft_limit_cents=0):
        account = Account(self._next_id, owner, overdraft_limit_cents)
        self._accounts[account.id] = account
        self._next_id += 1
        return account.id

    def account(self, account_id):
        try:
            return self._accounts[account_id]
        except KeyError:
            raise UnknownAccount(account_id) from None

    def balance(self, account_id):
        return self.account(account_id).balance_cents

    def deposit(self, account_id, amount_cents):
        self.account(account_id).deposit(amount_cents)

    def withdraw(self, account_id, amount_cents):
        self.account(account_id).withdraw(amount_cents)

    def transfer(self, source_id, target_id, amount_cents):
        """Move money between two different accounts; all or nothing."""
        source, target = self.account(source_id), self.account(target_id)
        source.withdraw(amount_cents, kind="transfer out", counterparty=target_id)
        target.deposit(amount_cents, kind="transfer in", counterparty=source_id)

    def apply_interest(self, annual_rate):
        """Credit one month of interest on positive balances (rounded half to even)."""
        monthly = Decimal(str(annual_rate)) / 12
        for account in self._accounts.values():
            if account.balance_cents > 0:
                interest = int((account.balance_cents * monthly).quantize(Decimal("1"), rounding=ROUND_HALF_EVEN))
                if interest:
                    account.deposit(interest, kind="interest")

    def statement(self, account_id):
        """One line per entry: kind, signed amount, the balance after it, and for
        transfers the other account ("to #2" / "from #1")."""
        lines = []
        for entry in self.account(account_id).history:
            line = f"{entry.kind:<13} {entry.amount_cents / 100:+10.2f} {entry.balance_cents / 100:10.2f}"
            if entry.counterparty is not None:
                line += f"  {'to' if entry.amount_cents < 0 else 'from'} #{entry.counterparty}"
            lines.append(line)
        return lines
