"""Close every live sandbox when the process ends, however it ends.

A sandbox belongs to the *process* that opened it, whichever thread did:
the engine opens them on worker threads, so nothing here depends on the
thread that registers one. Context managers cover exceptions; this module
covers the rest:

* normal interpreter exit: an `atexit` hook;
* SIGTERM, SIGINT and SIGHUP: a handler that closes every live sandbox of
  this process (in parallel, waiting a moment for ones being created on
  other threads), then hands the signal on to whatever handled it before:
  a Python handler is called (for SIGINT that is Python's own, which raises
  `KeyboardInterrupt`); the default action is restored and the signal
  re-delivered, so the process still dies the way its parent expects.
  A signal the host program ignores (SIG_IGN) or handles in C is left
  alone.

Python only lets the main thread set signal handlers. `install()` does it;
it runs when `sandbox.factory` or `sandbox.docker_sandbox` is imported on
the main thread and again whenever a sandbox is registered there. A
program that first imports them on another thread calls `install()` from
its main thread itself. A host program that installs its own handler
later replaces ours; if it ends by exiting normally the `atexit` hook still
closes everything, and if it chains to the previous handler it reaches ours.

SIGKILL cannot be caught: `reaper` handles it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")
# How long a signal waits for sandboxes being created on other threads, and for all closes together.
CREATION_WAIT_S = 5.0
CLOSE_WAIT_S = 30.0
_PARALLEL_CLOSES = 8


class _Closeable(Protocol):
    def close(self) -> None: ...


# id(sandbox) -> (sandbox, pid of the process that opened it). A forked child
# inherits this table and the hooks, but must not close its parent's sandboxes.
_live: dict[int, tuple[_Closeable, int]] = {}
_lock = threading.RLock()  # re-entrant: a signal may arrive while the main thread holds it
_creating: dict[int, int] = {}  # thread ident -> sandboxes it is creating (container made, not yet registered)
_created = threading.Condition(_lock)
_atexit_installed = False
_previous: dict[int, Any] = {}  # signal number -> the handler ours replaced
_handling: set[int] = set()
_warned_thread = False


def install() -> bool:
    """Install the exit hook and, on the main thread, the signal handlers. Idempotent.

    Returns True when the signal handlers are in place after the call.
    Safe to call from any thread (elsewhere than the main one it installs
    only the exit hook).
    """
    global _atexit_installed
    with _lock:
        if not _atexit_installed:
            _atexit_installed = True
            atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        return installed()
    for name in SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None or signum in _previous:
            continue
        try:
            current = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
        if current is _on_signal or current is signal.SIG_IGN or current is None:
            continue  # ours already, ignored on purpose, or set from C: leave it
        try:
            signal.signal(signum, _on_signal)
        except (OSError, ValueError):  # not the main interpreter, or not allowed here
            continue
        _previous[signum] = current
    return installed()


def installed() -> bool:
    """True when this process's SIGTERM handler is ours."""
    return signal.getsignal(signal.SIGTERM) is _on_signal


def register(sandbox: _Closeable) -> None:
    """Track a sandbox until `unregister` (from any thread); install the hooks on first use."""
    global _warned_thread
    install()
    with _lock:
        _live[id(sandbox)] = (sandbox, os.getpid())
        if not _warned_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            _warned_thread = True
            log.warning(
                "sandboxes are being opened but no SIGTERM handler closes them: call sandbox.cleanup.install() "
                "from the main thread (import sandbox.factory there) so a SIGTERM does not leave containers"
            )


def unregister(sandbox: _Closeable) -> None:
    with _lock:
        _live.pop(id(sandbox), None)


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Mark the current thread as creating a sandbox (between making its container and `register`).

    A signal arriving meanwhile waits up to `CREATION_WAIT_S` for it to be
    registered, so that it is closed with the others.
    """
    me = threading.get_ident()
    with _lock:
        _creating[me] = _creating.get(me, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _creating.get(me, 1) - 1
            if left:
                _creating[me] = left
            else:
                _creating.pop(me, None)
            _created.notify_all()


def live_count() -> int:
    me = os.getpid()
    with _lock:
        return sum(1 for _, owner in _live.values() if owner == me)


def close_all(wait_for_creations: float = 0.0) -> None:
    """Close every sandbox this process opened, in parallel; log (never raise) failures.

    ``wait_for_creations``: seconds to wait first for sandboxes that other
    threads are creating right now.
    """
    me = os.getpid()
    if wait_for_creations > 0:
        give_up = time.monotonic() + wait_for_creations
        this_thread = threading.get_ident()
        with _created:
            while any(t != this_thread for t in _creating) and time.monotonic() < give_up:
                _created.wait(timeout=max(0.0, give_up - time.monotonic()))
    with _lock:
        sandboxes = [sandbox for sandbox, owner in _live.values() if owner == me]
    if not sandboxes:
        return
    if len(sandboxes) == 1:
        _close_one(sandboxes[0])
        return
    pending = list(sandboxes)
    pending_lock = threading.Lock()

    def worker() -> None:
        while True:
            with pending_lock:
                if not pending:
                    return
                sandbox = pending.pop()
            _close_one(sandbox)

    threads = [threading.Thread(target=worker, name="sandbox-cleanup", daemon=True)
               for _ in range(min(_PARALLEL_CLOSES, len(sandboxes)))]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + CLOSE_WAIT_S
    for thread in threads:
        thread.join(timeout=max(0.0, give_up - time.monotonic()))


def _close_one(sandbox: _Closeable) -> None:
    try:
        sandbox.close()
    except Exception as exc:  # noqa: BLE001 - clean-up must go on
        log.warning("could not close sandbox %r: %s", sandbox, exc)


def _on_signal(signum: int, frame: object) -> None:
    if signum in _handling:
        return  # the same signal again while we clean up: the first one still ends the process
    _handling.add(signum)
    try:
        close_all(wait_for_creations=CREATION_WAIT_S)
    finally:
        _handling.discard(signum)
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    # SIG_DFL: die of the signal, as the process would have without us.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def previous_handler(signum: int) -> Callable[..., Any] | int | None:
    """The handler ours chains to for ``signum`` (None when ours is not installed for it)."""
    return _previous.get(signum)
