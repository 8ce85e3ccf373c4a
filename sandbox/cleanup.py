"""Close every live sandbox when the process ends, however it ends.

Context managers cover exceptions and Ctrl-C; this module covers the rest:
a normal interpreter exit (atexit) and SIGTERM/SIGHUP, whose default action
would kill the process without running either. The signal handlers are
only installed where nobody else installed one, and after cleaning up they
re-deliver the signal with its default action, so the process still dies
the way its parent expects. SIGKILL cannot be caught: `reaper` handles it.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class _Closeable(Protocol):
    def close(self) -> None: ...


# id(sandbox) -> (sandbox, pid of the process that opened it). A forked child
# inherits this table and the hooks, but must not close its parent's sandboxes.
_live: dict[int, tuple[_Closeable, int]] = {}
_lock = threading.RLock()  # re-entrant: a signal may arrive while the main thread holds it
_installed = False
_SIGNALS = ("SIGTERM", "SIGHUP")


def register(sandbox: _Closeable) -> None:
    """Track a sandbox until `unregister`; install the exit hooks on first use."""
    global _installed
    with _lock:
        _live[id(sandbox)] = (sandbox, os.getpid())
        if not _installed:
            _installed = True
            atexit.register(close_all)
            _install_signal_handlers()


def unregister(sandbox: _Closeable) -> None:
    with _lock:
        _live.pop(id(sandbox), None)


def live_count() -> int:
    with _lock:
        return len(_live)


def close_all() -> None:
    """Close every sandbox this process opened, logging (not raising) failures."""
    me = os.getpid()
    with _lock:
        sandboxes = [sandbox for sandbox, owner in _live.values() if owner == me]
    for sandbox in sandboxes:
        try:
            sandbox.close()
        except Exception as exc:  # noqa: BLE001 - clean-up must go on
            log.warning("could not close sandbox %r: %s", sandbox, exc)


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal only works in the main thread
    for name in _SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: object) -> None:
    close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
