"""Owner labels on sandbox containers, and reaping the ones whose owner died.

A process killed with SIGKILL (or a machine that lost power) cannot remove
its containers. Each container therefore names its owner: host, boot,
process id and the process's start time (a pid alone can be reused), plus
the wall-clock time after which it is dead anyway. Any later process can
then tell orphans from containers a living process still uses.

Containers also end themselves: their keeper process sleeps for the
sandbox's lifetime and the container is removed when it exits, so even an
orphan that no one reaps is gone after its lifetime.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

import docker.errors

import docker

log = logging.getLogger(__name__)

LABEL = "org.clade.sandbox"
LABEL_PID = "org.clade.sandbox.owner.pid"
LABEL_START = "org.clade.sandbox.owner.start"
LABEL_HOST = "org.clade.sandbox.owner.host"
LABEL_BOOT = "org.clade.sandbox.owner.boot"
LABEL_DEADLINE = "org.clade.sandbox.deadline"

# A container past its deadline by this much is reaped whoever owns it.
_DEADLINE_GRACE_S = 60.0

_reaped_once: set[str] = set()
_reaped_lock = threading.Lock()


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses; fields after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_labels(lifetime: float) -> dict[str, str]:
    """Labels naming this process as the owner of a container living ``lifetime`` seconds."""
    pid = os.getpid()
    return {
        LABEL: "1",
        LABEL_PID: str(pid),
        LABEL_START: _start_ticks(pid) or "",
        LABEL_HOST: socket.gethostname(),
        LABEL_BOOT: _boot_id(),
        LABEL_DEADLINE: f"{time.time() + lifetime:.0f}",
    }


def owner_is_dead(labels: Mapping[str, str]) -> bool:
    """True when the labels name a process that certainly no longer exists."""
    try:
        deadline = float(labels.get(LABEL_DEADLINE, "inf"))
    except ValueError:
        deadline = float("inf")
    if time.time() > deadline + _DEADLINE_GRACE_S:
        return True
    if labels.get(LABEL_HOST) != socket.gethostname():
        return False  # another machine's container: only its deadline tells
    if labels.get(LABEL_BOOT) and labels.get(LABEL_BOOT) != _boot_id():
        return True  # this machine rebooted since
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return False
    ticks = _start_ticks(pid)
    if ticks is None:
        return True
    if ticks == "" or not labels.get(LABEL_START):
        try:  # no /proc: fall back to whether the pid exists
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return ticks != labels[LABEL_START]


def reap_orphans(client: docker.DockerClient) -> list[str]:
    """Remove sandbox containers whose owner died; return their ids."""
    removed = []
    for info in client.api.containers(all=True, filters={"label": LABEL}):
        if owner_is_dead(info.get("Labels") or {}):
            try:
                client.api.remove_container(info["Id"], force=True)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: already being removed
                    log.warning("could not reap sandbox container %s: %s", info["Id"][:12], exc)
                    continue
            removed.append(info["Id"])
    if removed:
        log.info("reaped %d orphaned sandbox container(s)", len(removed))
    return removed


def reap_orphans_once(client: docker.DockerClient) -> None:
    """Reap once per process and daemon, on the first sandbox start."""
    key = str(client.api.base_url)
    with _reaped_lock:
        if key in _reaped_once:
            return
        _reaped_once.add(key)
    try:
        reap_orphans(client)
    except docker.errors.DockerException as exc:
        log.warning("could not look for orphaned sandbox containers: %s", exc)
