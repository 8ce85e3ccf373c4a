class LedgerError(Exception):
    pass


class InsufficientFunds(LedgerError):
    pass


class UnknownAccount(LedgerError, KeyError):
    pass
