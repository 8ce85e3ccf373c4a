"""The lease that makes exactly one process the driver of a run.

The lease lives in the run's own row (`driver_owner`, `driver_expires_at`)
because the archive is the one thing every driver shares, on one machine
(SQLite) or many (PostgreSQL). Taking it is a single conditional UPDATE,
"set me as owner where nobody holds it or the holder's time ran out", which
succeeds for exactly one of any number of racing drivers in either database:
no pid file, no check-then-write window, no lock table.

The holder renews it from a heartbeat thread. A driver that dies stops
renewing, and after `ttl` seconds anyone may take the run over. On the
holder's own machine a dead holder is seen at once (its pid is gone), so
`clade run resume` after a kill -9 need not wait for the expiry. A driver
that could not renew in time (suspended, cut off from the database) has lost
the run and must stop: `check()` raises `LeaseLost` in its loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from archive.db import Database
from archive.errors import CladeError
from archive.models import Run, utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 30.0


class RunBusy(CladeError):
    """Another live process drives the run."""


class LeaseLost(CladeError):
    """This process stopped being the run's driver (it could not renew in time)."""


def new_owner(pid: int | None = None) -> str:
    """`host:pid:nonce`; the nonce tells apart two drivers that reuse a pid."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}:{uuid.uuid4().hex[:8]}"


def owner_pid(owner: str) -> tuple[str, int | None]:
    """The host and pid an owner string names (pid None when it names none)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return owner, None
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return parts[0], None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs here (a zombie left unreaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _dead_here(owner: str) -> bool:
    """The owner ran on this machine and its process is gone."""
    host, pid = owner_pid(owner)
    return host == socket.gethostname() and pid is not None and not pid_alive(pid)


def current_driver(db: Database, run_id: int) -> str | None:
    """The owner driving the run now, or None (no lease, an expired one, or a dead holder here)."""
    with db.session() as s:
        row = s.execute(select(Run.driver_owner, Run.driver_expires_at).where(Run.id == run_id)).one_or_none()
    owner, expires = row if row is not None else (None, None)
    if owner is None or expires is None or _aware(expires) <= utcnow() or _dead_here(owner):
        return None
    return owner


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every lease time is written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


class DriverLease:
    """The right to drive one run. `acquire()`, then `start_heartbeat()`; `release()` at the end."""

    def __init__(self, db: Database, run_id: int, owner: str | None = None, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.db = db
        self.run_id = run_id
        self.owner = owner or new_owner()
        self.ttl = timedelta(seconds=ttl_s)
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the run, or raise `RunBusy` naming the live holder."""
        now = utcnow()
        free = or_(Run.driver_owner.is_(None), Run.driver_owner == self.owner, Run.driver_expires_at <= now)
        if self._take(free, now):
            return
        holder = current_driver(self.db, self.run_id)
        if holder is None:  # expired between the two statements, or its process is dead here
            with self.db.session() as s:
                stale = s.scalar(select(Run.driver_owner).where(Run.id == self.run_id))
            if stale is not None and self._take(Run.driver_owner == stale, now):
                log.info("run %s: took over from %s, which no longer drives it", self.run_id, stale)
                return
            holder = current_driver(self.db, self.run_id) or stale
        raise RunBusy(f"run {self.run_id} is being driven by {holder} (host:pid); wait for it to stop, "
                      f"or pause it with `clade run pause {self.run_id}`")

    def _take(self, condition, now: datetime) -> bool:  # type: ignore[no-untyped-def]
        with self.db.session() as s:
            taken = s.execute(update(Run).where(Run.id == self.run_id, condition)
                              .values(driver_owner=self.owner, driver_expires_at=now + self.ttl))
            return taken.rowcount == 1

    def renew(self) -> bool:
        """Push the expiry on; False when someone else holds the run now."""
        with self.db.session() as s:
            renewed = s.execute(update(Run).where(Run.id == self.run_id, Run.driver_owner == self.owner)
                                .values(driver_expires_at=utcnow() + self.ttl))
            return renewed.rowcount == 1

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"lease-run-{self.run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = self.ttl.total_seconds() / 3
        valid_until = utcnow() + self.ttl
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    break
                valid_until = utcnow() + self.ttl
            except Exception as exc:  # noqa: BLE001 - the database may come back before the lease runs out
                log.warning("run %s: could not renew the driver lease (%s)", self.run_id, exc)
                if utcnow() < valid_until:
                    continue
                break
        else:
            return
        self._lost.set()

    def check(self) -> None:
        """Raise `LeaseLost` when the run is no longer this process's to drive."""
        if self._lost.is_set():
            raise LeaseLost(f"run {self.run_id}: this process lost the driver lease (it could not renew it for "
                            f"{self.ttl.total_seconds():.0f} s); another driver may have taken the run over")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.db.session() as s:
                s.execute(update(Run).where(Run.id == self.run_id, Run.driver_owner == self.owner)
                          .values(driver_owner=None, driver_expires_at=None))
        except Exception as exc:  # noqa: BLE001 - an unreleased lease expires by itself
            log.warning("run %s: could not release the driver lease (%s); it expires in %.0f s",
                        self.run_id, exc, self.ttl.total_seconds())
