"""The driver lease: one driver per run, taken atomically in SQLite and in
PostgreSQL, renewed by a heartbeat, taken over once its holder is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest

from archive import Archive
from archive.lease import DriverLease, LeaseLost, RunBusy, current_driver, owner_pid


def _run(archive: Archive, seed_agent) -> int:  # type: ignore[no-untyped-def]
    run, _root = archive.create_run("leased", {}, seed_agent)
    return run.id


def test_a_second_driver_is_told_who_holds_the_run(archive: Archive, seed_agent) -> None:
    run_id = _run(archive, seed_agent)
    first = DriverLease(archive.db, run_id)
    first.acquire()
    with pytest.raises(RunBusy) as refused:
        DriverLease(archive.db, run_id).acquire()
    assert first.owner in str(refused.value) and f"clade run pause {run_id}" in str(refused.value)
    assert current_driver(archive.db, run_id) == first.owner
    first.acquire()  # the holder may take it again (a renewal by another name)
    first.release()
    assert current_driver(archive.db, run_id) is None
    second = DriverLease(archive.db, run_id)
    second.acquire()  # a released run is free at once
    assert current_driver(archive.db, run_id) == second.owner


def test_racing_drivers_leave_exactly_one(archive: Archive, seed_agent) -> None:
    run_id = _run(archive, seed_agent)
    leases = [DriverLease(archive.db, run_id) for _ in range(8)]
    start = threading.Barrier(len(leases))
    won: list[str] = []

    def race(lease: DriverLease) -> None:
        start.wait()
        try:
            lease.acquire()
            won.append(lease.owner)
        except RunBusy:
            pass

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert current_driver(archive.db, run_id) == won[0]


def test_an_expired_lease_is_taken_over_and_its_holder_learns_it(archive: Archive, seed_agent) -> None:
    run_id = _run(archive, seed_agent)
    # A holder on another machine: its pid means nothing here, only the expiry frees the run.
    stalled = DriverLease(archive.db, run_id, owner="elsewhere:1:stalled", ttl_s=0.6)
    stalled.acquire()
    with pytest.raises(RunBusy):
        DriverLease(archive.db, run_id).acquire()
    time.sleep(0.8)
    assert current_driver(archive.db, run_id) is None
    taker = DriverLease(archive.db, run_id)
    taker.acquire()
    assert not stalled.renew()  # the stalled driver cannot push the expiry of a lease it lost
    stalled.start_heartbeat()  # its heartbeat finds out at the next beat and the loop's check says so
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            stalled.check()
        except LeaseLost:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the driver that lost its lease was never told")
    stalled.release()  # releasing a lost lease leaves the new holder's alone
    assert current_driver(archive.db, run_id) == taker.owner


def test_the_heartbeat_keeps_the_run_past_its_ttl(archive: Archive, seed_agent) -> None:
    run_id = _run(archive, seed_agent)
    lease = DriverLease(archive.db, run_id, ttl_s=0.6)
    lease.acquire()
    lease.start_heartbeat()
    time.sleep(1.5)
    lease.check()
    with pytest.raises(RunBusy):
        DriverLease(archive.db, run_id).acquire()
    lease.release()
    assert current_driver(archive.db, run_id) is None


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(archive: Archive, seed_agent) -> None:
    run_id = _run(archive, seed_agent)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = DriverLease(archive.db, run_id, owner=f"{socket.gethostname()}:{gone.pid}:killed9")
    dead.acquire()  # as a kill -9 leaves it: unexpired, never released
    assert current_driver(archive.db, run_id) is None
    resumer = DriverLease(archive.db, run_id)
    resumer.acquire()
    assert current_driver(archive.db, run_id) == resumer.owner
    assert owner_pid(resumer.owner) == (socket.gethostname(), os.getpid())
