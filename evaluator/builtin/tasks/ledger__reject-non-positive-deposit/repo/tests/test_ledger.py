import pytest

from ledger.bank import Bank
from ledger.errors import InsufficientFunds, UnknownAccount


def test_deposit_and_balance():
    bank = Bank()
    a = bank.open_account("alice")
    bank.deposit(a, 1000)
    assert bank.balance(a) == 1000


def test_withdraw_too_much():
    bank = Bank()
    a = bank.open_account("alice")
    bank.deposit(a, 1000)
    with pytest.raises(InsufficientFunds):
        bank.withdraw(a, 1001)


def test_transfer():
    bank = Bank()
    a, b = bank.open_account("alice"), bank.open_account("bob")
    bank.deposit(a, 1000)
    bank.transfer(a, b, 400)
    assert (bank.balance(a), bank.balance(b)) == (600, 400)


def test_unknown_account():
    with pytest.raises(UnknownAccount):
        Bank().balance(42)


def test_statement_lines():
    bank = Bank()
    a = bank.open_account("alice")
    bank.deposit(a, 1000)
    assert bank.statement(a) == ["deposit           +10.00      10.00"]
