"""Clade's seccomp profile: Docker's default, minus system calls an agent never needs.

Every sandbox runs under it (``security_opt=["seccomp=<JSON>"]``, which is
what ``docker run --security-opt seccomp=FILE`` sends the daemon), instead
of the engine's built-in default.

Source. ``sandbox/seccomp.json`` is a verbatim, unedited copy of Docker's
default profile, ``profiles/seccomp/default.json`` of the moby repository
at tag ``v20.10.24`` (commit 5d6db842238e3c4f5f9fb9ad70ea46b35227d084, the
engine this project runs on; git blob dbf1fa86f15145be72bb61eab4743268cd518143,
sha256 `UPSTREAM_SHA256`, checked by the tests). To move to a newer engine,
replace the file with that engine's copy, update the three identifiers
here, and run ``clade sandbox check``.

Changes. They are made here, in code, so that the diff from Docker's own
profile is exactly `REMOVED`: each name is taken out of every rule that
allows it (a rule left with no name is dropped), so the call falls to the
profile's default action, ``SCMP_ACT_ERRNO`` (EPERM). Names the upstream
profile already refuses are listed too: the profile stays closed to them
if a newer upstream copy starts allowing them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

UPSTREAM_FILE = Path(__file__).with_name("seccomp.json")
UPSTREAM_SOURCE = "github.com/moby/moby profiles/seccomp/default.json @ v20.10.24 (5d6db842238e)"
UPSTREAM_SHA256 = "ce3585b856aa4a193671fd8280d0d0612a998bd3f10bdb2f8530dfa958c6197f"

# name -> why an agent's sandbox refuses it.
REMOVED: dict[str, str] = {
    "io_uring_setup": "io_uring bypasses seccomp for the operations it queues, and is a large kernel attack surface",
    "io_uring_enter": "as io_uring_setup",
    "io_uring_register": "as io_uring_setup",
    "userfaultfd": "lets a process stall the kernel mid-copy (a staple of kernel exploits)",
    "keyctl": "the kernel keyring is not namespaced",
    "add_key": "the kernel keyring is not namespaced",
    "request_key": "the kernel keyring is not namespaced",
    "bpf": "loading BPF programs (upstream allows it with CAP_SYS_ADMIN only)",
    "perf_event_open": "performance counters leak host activity (upstream allows it with CAP_SYS_ADMIN only)",
}


def upstream() -> dict[str, Any]:
    """Docker's default profile as shipped (parsed ``seccomp.json``)."""
    return json.loads(UPSTREAM_FILE.read_text())


def upstream_digest() -> str:
    return hashlib.sha256(UPSTREAM_FILE.read_bytes()).hexdigest()


def profile() -> dict[str, Any]:
    """Clade's profile: `upstream()` with every name in `REMOVED` taken out of every rule (a fresh copy)."""
    base = upstream()
    rules = []
    for rule in base["syscalls"]:
        names = [name for name in rule.get("names", []) if name not in REMOVED]
        if names:
            rules.append({**rule, "names": names})
    return {**base, "syscalls": rules}


def allowed_somewhere(prof: dict[str, Any], name: str) -> bool:
    """True when some rule of ``prof`` lets ``name`` through (under whatever condition)."""
    return any(name in rule.get("names", []) and rule.get("action") == "SCMP_ACT_ALLOW"
               for rule in prof["syscalls"])


@functools.cache
def security_opt() -> str:
    """The ``security_opt`` entry that applies `profile()` to a container."""
    return "seccomp=" + json.dumps(profile(), separators=(",", ":"))
