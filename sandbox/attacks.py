"""The attack suite: what hostile code would try, and proof that it is contained.

Each attack opens its own sandbox, does its worst from inside (or feeds
hostile input from outside), and decides from evidence whether it was
contained. After every attack the suite also checks, from the host, that
the host is untouched (a canary file unchanged, nothing new in a watched
directory, the attack's containers gone) and that a fresh sandbox still
works. `clade sandbox check` and the tests both run this code, so what the
CLI reports is exactly what CI tests.

Network attacks only ever target loopback, the host's own addresses, or
public addresses that must be unreachable (one connection attempt each).
Besides each attack's own evidence, the host-side checks also hold the
host's memory (this process's peak resident size may not grow by more than
`HOST_MEMORY_SLACK`) and disk (free space where host-side copies land may
not shrink by more than `HOST_DISK_SLACK`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors

import docker
from sandbox.base import Sandbox
from sandbox.client import get_client
from sandbox.docker_sandbox import DockerSandbox
from sandbox import seccomp
from sandbox.errors import (
    NotARegularFile,
    SandboxError,
    SandboxExpired,
    SparseFile,
    TransferTooLarge,
    UnsafePath,
)
from sandbox.limits import SandboxLimits

# Public addresses that a sandbox must not reach; one attempt each, nothing more.
PUBLIC_TARGETS = (("1.1.1.1", 443), ("8.8.8.8", 53), ("2606:4700:4700::1111", 443))
CANARY_ENV = "CLADE_ATTACK_CANARY"
HOST_MEMORY_SLACK = 256 * 1024 * 1024
HOST_DISK_SLACK = 256 * 1024 * 1024
_SECRET_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class AttackResult:
    """One attack's verdict and the evidence it rests on."""

    name: str
    description: str
    contained: bool
    detail: str  # the attack's own evidence (or what got through)
    host: str  # the checks every attack ends with: host untouched, containers gone, next sandbox works
    duration: float


class Evidence:
    """Collects checks; the attack is contained only if every check passed."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.notes: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        (self.notes if ok else self.failures).append(what)
        return ok

    @property
    def contained(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.failures:
            return "NOT CONTAINED: " + "; ".join(self.failures)
        return "; ".join(self.notes)


@dataclass
class Context:
    """What attacks share: how to open sandboxes, and the host-side bait."""

    image: str | None
    canary: str
    canary_file: Path
    watch_dir: Path
    client: docker.DockerClient
    opened: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def sandbox(self, **limits: object) -> Iterator[DockerSandbox]:
        """Open a sandbox with some limits changed; it is closed on the way out."""
        merged = SandboxLimits(**{"lifetime": 120.0, **limits})  # type: ignore[arg-type]
        with DockerSandbox(self.image, merged, client=self.client) as sb:
            self.opened.append(sb.id)
            yield sb

    def python(self, sb: Sandbox, script: str, timeout: float = 30, **kwargs: object) -> tuple[int, str, bool]:
        result = sb.exec(["python3", "-c", script], timeout=timeout, **kwargs)  # type: ignore[arg-type]
        return result.exit_code, result.output, result.timed_out


AttackFn = Callable[[Context, Evidence], None]


@dataclass(frozen=True)
class Attack:
    """One attack: it does its worst in `Context` and records its findings in `Evidence`."""

    name: str
    description: str
    run: AttackFn


ATTACKS: list[Attack] = []


def attack(name: str, description: str) -> Callable[[AttackFn], AttackFn]:
    """Register an attack; the order of registration is the order they run in."""

    def register(fn: AttackFn) -> AttackFn:
        ATTACKS.append(Attack(name, description, fn))
        return fn

    return register


def _lines(output: str, prefix: str) -> list[str]:
    return [line[len(prefix) :].strip() for line in output.splitlines() if line.startswith(prefix)]


# ---------------------------------------------------------------- network

_CONNECT = """
import json, socket, sys
for host, port in json.loads(sys.argv[1]):
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect((host, port))
        print("CONNECTED", host, port)
    except OSError as e:
        print("BLOCKED", host, port, e)
print("IFACES", *sorted(__import__("os").listdir("/sys/class/net")))
"""


@attack("network-public", "open TCP connections to public addresses")
def _network_public(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        r = sb.exec(["python3", "-c", _CONNECT, json.dumps(PUBLIC_TARGETS)], timeout=30)
    connected = _lines(r.output, "CONNECTED")
    blocked = _lines(r.output, "BLOCKED")
    ev.check(not connected, f"connected to {connected}" if connected else f"{len(blocked)} public targets unreachable")
    ev.check(len(blocked) == len(PUBLIC_TARGETS), f"every attempt ran ({len(blocked)}/{len(PUBLIC_TARGETS)})")
    ifaces = _lines(r.output, "IFACES")
    ev.check(ifaces == ["lo"], f"network interfaces: {ifaces[0] if ifaces else 'unknown'}")


class _Listener:
    """A TCP server on the host's every address that counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def _host_addresses(client: docker.DockerClient) -> list[str]:
    """Addresses at which a container could hope to find the host."""
    found = {"127.0.0.1"}
    try:
        for config in client.networks.get("bridge").attrs["IPAM"]["Config"] or []:
            if config.get("Gateway"):
                found.add(config["Gateway"])
    except (docker.errors.DockerException, KeyError, TypeError):
        found.add("172.17.0.1")
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    with contextlib.suppress(OSError):  # the address of the default route (UDP connect sends nothing)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))
        found.add(probe.getsockname()[0])
        probe.close()
    return sorted(found)


@attack("network-host", "reach services on the host's loopback and its other addresses")
def _network_host(ctx: Context, ev: Evidence) -> None:
    listener = _Listener()
    try:
        targets = [(addr, listener.port) for addr in _host_addresses(ctx.client)]
        targets.append(("host.docker.internal", listener.port))
        with ctx.sandbox() as sb:
            r = sb.exec(["python3", "-c", _CONNECT, json.dumps(targets)], timeout=60)
        # The host's own view: did the listener answer anyone?
        probe = socket.create_connection(("127.0.0.1", listener.port), timeout=3)
        probe.close()
        time.sleep(0.3)
    finally:
        listener.close()
    connected = _lines(r.output, "CONNECTED")
    ev.check(not connected, f"connected to {connected}" if connected else f"{len(targets)} host addresses unreachable")
    ev.check(len(_lines(r.output, "BLOCKED")) == len(targets), "every attempt ran")
    ev.check(listener.accepted == 1, f"host listener saw {listener.accepted - 1} sandbox connection(s)")


_DNS = """
import socket
try:
    print("RESOLVED", socket.getaddrinfo("example.com", 80))
except OSError as e:
    print("NO-DNS", e)
query = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
for server in ["8.8.8.8", "1.1.1.1"] + [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(query, (server, 53))
        print("ANSWER", server, s.recvfrom(512)[0][:4].hex())
    except OSError as e:
        print("NO-DNS", server, e)
"""


@attack("network-dns", "resolve names and query DNS servers directly")
def _network_dns(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        _, out, _ = ctx.python(sb, _DNS)
    ev.check("RESOLVED" not in out, "example.com does not resolve")
    answers = _lines(out, "ANSWER")
    ev.check(not answers, f"DNS answers: {answers}" if answers else "no DNS server answered")
    ev.check(len(_lines(out, "NO-DNS")) >= 3, "every query ran")


# -------------------------------------------------------------- resources

_FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
_PIDS_EVENTS = "cat /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events 2>/dev/null; echo alive"


@attack("fork-bomb", "fork processes without end")
def _fork_bomb(ctx: Context, ev: Evidence) -> None:
    pids = 64
    with ctx.sandbox(pids=pids) as sb:
        started = time.monotonic()
        r = sb.exec(["python3", "-c", _FORK_BOMB], timeout=5)
        took = time.monotonic() - started
        after = sb.exec(_PIDS_EVENTS, timeout=20)
    ev.check(r.timed_out and took < 15, f"bomb stopped after {took:.1f} s (timed out: {r.timed_out})")
    refused = [line.split()[1] for line in after.output.splitlines() if line.startswith("max ")]
    if refused:
        ev.check(int(refused[0]) > 0, f"pids limit {pids} refused {refused[0]} forks")
    ev.check("alive" in after.output, "the same sandbox runs commands afterwards")


_MEMORY_BOMB = """
import sys
blocks = []
try:
    while True:
        blocks.append(b"x" * (16 * 1024 * 1024))  # written, so every page is really used
        print("MB", 16 * len(blocks), flush=True)
except MemoryError:
    print("MEMORYERROR", 16 * len(blocks), flush=True)
"""


@attack("memory-bomb", "allocate memory without end")
def _memory_bomb(ctx: Context, ev: Evidence) -> None:
    limit_mb = 256
    with ctx.sandbox(memory=f"{limit_mb}m") as sb:
        code, out, timed_out = ctx.python(sb, _MEMORY_BOMB, timeout=60)
        peak = sb.exec(
            "cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes /sys/fs/cgroup/memory.peak 2>/dev/null; echo alive",
            timeout=20,
        )
    reached = max([int(x) for x in _lines(out, "MB")] or [0])
    ev.check(not timed_out and (code == 137 or "MEMORYERROR" in out), f"stopped at {reached} MiB (exit {code})")
    ev.check(reached <= limit_mb, f"never held more than the {limit_mb} MiB limit")
    numbers = [int(x) for x in peak.output.split() if x.isdigit()]
    if numbers:
        ev.check(numbers[0] <= limit_mb * 1024 * 1024, f"cgroup peak {numbers[0] // 2**20} MiB")
    ev.check("alive" in peak.output, "the same sandbox runs commands afterwards")


_DISK_FILL = """
import json, os, sys
chunk = b"x" * (1024 * 1024)
for place in json.loads(sys.argv[1]):
    written = 0
    try:
        with open(os.path.join(place, "fill"), "wb") as f:
            while written < 4096 * len(chunk):
                f.write(chunk)
                f.flush()
                written += len(chunk)
        print("UNBOUNDED", place, written)
    except OSError as e:
        print("STOPPED", place, written, e.errno)
"""


@attack("disk-fill", "write until the disk is full, everywhere writable and not")
def _disk_fill(ctx: Context, ev: Evidence) -> None:
    cap = 32 * 1024 * 1024
    host_free_before = shutil.disk_usage(_docker_root()).free
    places = ["/workspace", "/tmp", "/home/agent", "/dev/shm", "/", "/var/tmp", "/etc", "/opt/venv"]
    with ctx.sandbox(workspace_size=cap, tmp_size=cap, home_size=cap, shm_size=cap, memory="1g") as sb:
        r = sb.exec(["python3", "-c", _DISK_FILL, json.dumps(places)], timeout=120)
        alive = sb.exec(["echo", "alive"], timeout=20)
    host_free_after = shutil.disk_usage(_docker_root()).free
    stopped = {line.split()[0]: int(line.split()[1]) for line in _lines(r.output, "STOPPED")}
    ev.check(not _lines(r.output, "UNBOUNDED"), "no place took 4 GiB")
    ev.check(set(stopped) == set(places), f"every place refused writes ({len(stopped)}/{len(places)})")
    over = {p: n for p, n in stopped.items() if n > cap}
    ev.check(not over, f"over the {cap >> 20} MiB cap: {over}" if over else f"writable tmpfs capped at {cap >> 20} MiB")
    lost = host_free_before - host_free_after
    ev.check(lost < 256 * 1024 * 1024, f"host disk free changed by {lost / 2**20:.0f} MiB")
    ev.check(alive.output.strip() == "alive", "the same sandbox runs commands afterwards")


def _docker_root() -> str:
    return "/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/"


@attack("output-flood", "print without end, and print far more than the cap and exit")
def _output_flood(ctx: Context, ev: Evidence) -> None:
    cap = 64 * 1024
    with ctx.sandbox(max_output_bytes=cap) as sb:
        endless = sb.exec(["yes", "clade-flood"], timeout=3)
        big = sb.exec("head -c 200000000 /dev/zero | tr '\\0' x; echo; echo THE-END", timeout=60)
    for label, r in (("endless flood", endless), ("200 MB burst", big)):
        ev.check(r.truncated and len(r.output) <= cap + 100, f"{label}: kept {len(r.output)} bytes, truncated")
    ev.check(endless.timed_out, "endless flood timed out")
    ev.check(not big.timed_out and big.exit_code == 0 and big.output.endswith("THE-END\n"),
             "burst ran to its end; its tail kept")


@attack("infinite-loop", "spin for ever, ignore SIGTERM, and slip out of the process group")
def _infinite_loop(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        loops = {
            "busy loop": ["python3", "-c", "while True: pass"],
            "SIGTERM ignored": ["sh", "-c", "trap '' TERM; while :; do :; done"],
            "escaped with setsid": ["sh", "-c", "setsid sh -c 'while :; do :; done; # clade-escapee' & sleep 1000"],
        }
        for label, argv in loops.items():
            started = time.monotonic()
            r = sb.exec(argv, timeout=2)
            took = time.monotonic() - started
            ev.check(r.timed_out and r.exit_code == 124 and took < 10, f"{label}: killed after {took:.1f} s")
        left = sb.exec("ps -eo args | grep -c '[c]lade-escapee'", timeout=20)
    ev.check(left.output.strip() == "0", f"escaped loop left running: {left.output.strip()} process(es)")


@attack("sandbox-lifetime", "outlive the sandbox's wall-clock lifetime")
def _sandbox_lifetime(ctx: Context, ev: Evidence) -> None:
    lifetime = 4.0
    sb = DockerSandbox(ctx.image, SandboxLimits(lifetime=lifetime), client=ctx.client)
    ctx.opened.append(sb.id)
    try:
        started = time.monotonic()
        r = sb.exec(["sleep", "600"], timeout=600)
        took = time.monotonic() - started
        ev.check(r.timed_out and took < lifetime + 10, f"command cut at {took:.1f} s (lifetime {lifetime:g} s)")
        try:
            sb.exec(["true"])
            ev.check(False, "sandbox still ran commands after its lifetime")
        except SandboxExpired:
            ev.check(True, "later use reports the sandbox expired")
        ev.check(_container_gone(ctx.client, sb.id, wait=15), "its container removed itself")
    finally:
        sb.close()


# ------------------------------------------------------------- host reach

_SNOOP = """
import glob, os, sys
canary, host_file = sys.argv[1] + sys.argv[2], sys.argv[3]
seen = []
def look(where, text):
    if canary in text:
        seen.append(where)
look("environ", repr(dict(os.environ)))
for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
    try:
        look(path, open(path, "rb").read().decode(errors="replace"))
    except OSError:
        pass
for path in [host_file, "/etc/shadow", "/root/.ssh/id_rsa", "/root/.docker/config.json", "/proc/1/root/etc/shadow"]:
    try:
        look(path, open(path, errors="replace").read())
        print("READ", path)
    except OSError as e:
        print("DENIED", path, e.errno)
for top in ["/etc", "/home", "/root", "/tmp", "/workspace", "/run", "/opt", "/var", "/mnt", "/srv", "/media"]:
    for base, dirs, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(base, name), "rb") as f:
                    look(os.path.join(base, name), f.read(1 << 20).decode(errors="replace"))
            except OSError:
                pass
print("SEEN", *seen)
print("HOSTFILE", os.path.exists(host_file))
"""


@attack("host-secrets", "read the host's environment and files")
def _host_secrets(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        # The canary travels in two halves, so that the search's own command line does not contain it.
        half = len(ctx.canary) // 2
        argv = ["python3", "-c", _SNOOP, ctx.canary[:half], ctx.canary[half:], str(ctx.canary_file)]
        r = sb.exec(argv, timeout=120)
    seen = _lines(r.output, "SEEN")[0].split() if "SEEN" in r.output else ["(search did not finish)"]
    ev.check(r.exit_code == 0, "the search ran to its end")
    ev.check(not seen, f"canary seen in {seen}" if seen else "host canary (env and file) not found anywhere")
    ev.check("HOSTFILE False" in r.output, "host canary file path does not exist inside")
    read = [p for p in _lines(r.output, "READ") if p.endswith("shadow") or "/root/" in p]
    ev.check(not read, f"read {read}" if read else "no secret file readable")


_ESCAPE = """
import os, subprocess
os.symlink("/", "/workspace/rootlink")
os.symlink("/etc/passwd", "/workspace/passwdlink")
targets = ["/etc/evil", "/usr/bin/evil", "/evil", "/workspace/../evil", "/var/tmp/evil", "/run/evil",
           "/workspace/rootlink/etc/evil", "/workspace/passwdlink", "/opt/venv/bin/evil",
           "/proc/sys/kernel/hostname", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/kernel/evil"]
for t in targets:
    try:
        with open(t, "a") as f:
            f.write("evil")
        print("WROTE", t)
    except OSError as e:
        print("DENIED", t, e.errno)
commands = (["mount", "-t", "tmpfs", "none", "/mnt"], ["chroot", "/", "true"],
            ["mknod", "/workspace/dev", "b", "8", "0"])
for cmd in commands:
    p = subprocess.run(cmd, capture_output=True)
    print("DENIED" if p.returncode else "RAN", cmd[0], p.returncode)
"""


@attack("escape-workspace", "write outside the workspace: root file system, symlinks, /proc, /sys, mounts")
def _escape_workspace(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        _, out, _ = ctx.python(sb, _ESCAPE)
    wrote = _lines(out, "WROTE") + _lines(out, "RAN")
    denied = _lines(out, "DENIED")
    ev.check(not wrote, f"succeeded: {wrote}" if wrote else f"{len(denied)} escape attempts denied")
    ev.check(len(denied) == 15, f"every attempt ran ({len(denied)}/15)")


_ROOT = """
import os, subprocess
try:
    os.setuid(0)
    print("BECAME-ROOT setuid")
except OSError as e:
    print("DENIED setuid", e.errno)
for cmd in (["su", "-c", "id -u"], ["unshare", "-r", "id", "-u"], ["unshare", "-U", "id", "-u"]):
    p = subprocess.run(cmd, capture_output=True, text=True, input="")
    if p.returncode == 0 and p.stdout.strip() == "0":
        print("BECAME-ROOT", cmd[0])
    else:
        print("DENIED", " ".join(cmd), p.returncode)
find = ["find", "/", "-xdev", "-perm", "/6000", "-type", "f"]
suid = subprocess.run(find, capture_output=True, text=True).stdout.split()
print("SETUID", *suid)
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
for key in ("Uid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
    print("STATUS", key, status.get(key, "?").split()[0] if status.get(key, "").split() else "?")
"""


@attack("become-root", "become root: setuid, su, user namespaces, set-uid programs, capabilities")
def _become_root(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        _, out, _ = ctx.python(sb, _ROOT)
    became = _lines(out, "BECAME-ROOT")
    ev.check(not became, f"became root via {became}" if became else "setuid, su and unshare all denied")
    ev.check(len(_lines(out, "DENIED")) == 4, "every attempt ran")
    setuid = _lines(out, "SETUID")
    ev.check(setuid == [""], f"set-uid programs: {setuid}" if setuid != [""] else "no set-uid programs")
    status = {line.split()[0]: line.split()[1] for line in _lines(out, "STATUS")}
    caps_zero = all(int(status.get(k, "1"), 16) == 0 for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb"))
    ev.check(caps_zero, "no capabilities" if caps_zero else f"capabilities: {status}")
    ev.check(status.get("Uid") == "1000", f"uid {status.get('Uid')}")
    ev.check(status.get("NoNewPrivs") == "1", "no-new-privileges set")
    ev.check(status.get("Seccomp") == "2", "seccomp filter on")


_SYSCALLS = """
import ctypes, errno, json, os, platform
numbers = {
    "x86_64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 323,
               "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298},
    "aarch64": {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 282,
                "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241},
}.get(platform.machine(), {})
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buffer = ctypes.create_string_buffer(4096)  # room for any argument structure the calls read
args = {"io_uring_setup": (8, buffer), "io_uring_enter": (0, 1, 0, 0, None, 0), "io_uring_register": (0, 0, None, 0),
        "userfaultfd": (0,), "keyctl": (0, 0), "add_key": (b"user", b"clade", b"x", 1, ctypes.c_long(-2)),
        "request_key": (b"user", b"clade", None, 0), "bpf": (0, buffer, 128), "perf_event_open": (buffer, 0, -1, -1, 0)}
for name, number in numbers.items():
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *args[name])
    code = ctypes.get_errno()
    if result >= 0:
        print("ALLOWED", name, result)
    else:
        print("REFUSED", name, errno.errorcode.get(code, code))
print("GETPID", libc.syscall(ctypes.c_long(39 if platform.machine() == "x86_64" else 172)) == os.getpid())
"""


@attack("kernel-surface", "call io_uring, userfaultfd, the keyring, bpf and perf_event_open")
def _kernel_surface(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        container = sb.id
        options = ctx.client.api.inspect_container(container)["HostConfig"].get("SecurityOpt") or []
        _, out, _ = ctx.python(sb, _SYSCALLS)
    allowed = _lines(out, "ALLOWED")
    refused = {line.split()[0]: line.split()[1] for line in _lines(out, "REFUSED")}
    ev.check(not allowed, f"allowed: {allowed}" if allowed else f"{len(refused)} system calls refused")
    ev.check(len(refused) == len(seccomp.REMOVED), f"every call was tried ({len(refused)}/{len(seccomp.REMOVED)})")
    odd = {name: code for name, code in refused.items() if code not in ("EPERM", "ENOSYS")}
    ev.check(not odd, f"refused for another reason than the filter: {odd}" if odd else "each with EPERM or ENOSYS")
    ev.check(_lines(out, "GETPID") == ["True"], "ordinary system calls still work")
    # The host's side: the container really runs under Clade's profile, which allows none of them.
    profiles = [json.loads(o.split("=", 1)[1]) for o in options if o.startswith("seccomp=")]
    ev.check(len(profiles) == 1, f"{len(profiles)} seccomp profile(s) given to the container")
    leaks = [n for p in profiles for n in seccomp.REMOVED if seccomp.allowed_somewhere(p, n)]
    ev.check(bool(profiles) and not leaks, f"the container's profile allows {leaks}" if leaks
             else "the container's profile (Clade's) allows none of them")


_DOCKER_HUNT = """
import os, socket, subprocess
find = ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "s", "-print"]
found = subprocess.run(find, capture_output=True, text=True).stdout.split()
known = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
         "/var/run/docker/containerd/containerd.sock"]
for path in known:
    print("EXISTS" if os.path.exists(path) else "ABSENT", path)
for path in sorted(set(found) | {p for p in known if os.path.exists(p)}):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(path)
        s.sendall(b"GET /version HTTP/1.0\\r\\n\\r\\n")
        answer = s.recv(4096)
        print("DOCKER-API" if b"ApiVersion" in answer else "OTHER-SOCKET", path)
    except OSError as e:
        print("NO-ANSWER", path, e.errno)
for host in ["172.17.0.1", "127.0.0.1"]:
    for port in (2375, 2376):
        try:
            socket.create_connection((host, port), timeout=3).close()
            print("DOCKER-TCP", host, port)
        except OSError as e:
            print("NO-TCP", host, port, e.errno)
print("DOCKER_HOST", os.environ.get("DOCKER_HOST", "-"))
"""


@attack("docker-socket", "find and talk to the Docker daemon")
def _docker_socket(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        _, out, _ = ctx.python(sb, _DOCKER_HUNT)
    hits = _lines(out, "DOCKER-API") + _lines(out, "DOCKER-TCP") + _lines(out, "EXISTS")
    ev.check(not hits, f"reached Docker: {hits}" if hits else "no Docker socket or port reachable")
    ev.check(len(_lines(out, "ABSENT")) == 4 and len(_lines(out, "NO-TCP")) == 4, "every probe ran")
    ev.check(_lines(out, "DOCKER_HOST") == ["-"], "no DOCKER_HOST in the environment")


_DAEMONIZE = """
import glob, os, sys, time
daemon = sys.argv[1] + "-daemon"
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        os.execvp("python3", ["python3", "-c", "import time; time.sleep(1000)", daemon])
    os._exit(0)
os.system(f"nohup python3 -c 'import time; time.sleep(1000)' {daemon} >/dev/null 2>&1 &")
time.sleep(0.5)
def cmdline(path):
    try:
        return open(path, "rb").read().split(b"\\0")
    except OSError:
        return []
print("RUNNING", sum(daemon.encode() in cmdline(p) for p in glob.glob("/proc/[0-9]*/cmdline")))
"""


@attack("background-process", "leave processes running after the sandbox is closed")
def _background_process(ctx: Context, ev: Evidence) -> None:
    marker = "clade-bg-" + secrets.token_hex(6)
    with ctx.sandbox() as sb:
        container = sb.id
        r = sb.exec(["python3", "-c", _DAEMONIZE, marker], timeout=30)
    running = _lines(r.output, "RUNNING")
    ev.check(running == ["2"], f"{running[0] if running else 0} daemons started inside")
    ev.check(_container_gone(ctx.client, container, wait=10), "container removed on close")
    time.sleep(0.5)
    survivors = _host_processes_with(marker)
    ev.check(not survivors, f"still running on the host: {survivors}" if survivors else "no process left on the host")


# Counts the processes whose command line holds a marker given in two halves
# (so that the counting process's own command line does not hold it).
_COUNT = """
import glob, sys
marker = (sys.argv[1] + sys.argv[2]).encode()
def cmdline(path):
    try:
        return open(path, "rb").read()
    except OSError:
        return b""
print("LEFT", sum(marker in cmdline(p) for p in glob.glob("/proc/[0-9]*/cmdline")))
print("PROCS", len(glob.glob("/proc/[0-9]*")))
"""
_LEFTOVERS = """
marker=$1$2
nap='import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1000)'
env -i /usr/bin/setsid python3 -c "$nap" "$marker-setsid" &
nohup python3 -c "$nap" "$marker-nohup" >/dev/null 2>&1 &
( trap '' HUP TERM; exec python3 -c "$nap" "$marker-trapped" ) &
sh -c 'while :; do sleep 1000 & sleep 0.05; done' "$marker-respawner" >/dev/null 2>&1 &
python3 -c 'import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        os.execvp("python3", ["python3", "-c", sys.argv[1], sys.argv[2] + "-daemon"])
    os._exit(0)' "$nap" "$marker"
sleep 0.5
python3 -c "$3" "$1" "$2"
"""


@attack("leftover-process", "leave processes behind a returned command: setsid, env -i, nohup, respawners")
def _leftover_process(ctx: Context, ev: Evidence) -> None:
    marker = "clade-left-" + secrets.token_hex(6)
    halves = [marker[:8], marker[8:]]
    with ctx.sandbox() as sb:
        container = sb.id
        baseline = sb.exec(["python3", "-c", _COUNT, *halves], timeout=20)
        for user in ("sandbox", "grader"):
            r = sb.exec(["sh", "-c", _LEFTOVERS, "sh", *halves, _COUNT], timeout=30, user=user)
            started = _lines(r.output, "LEFT")
            ev.check(bool(started) and int(started[0]) >= 5, f"as {user}: {started[0] if started else 0} "
                     "leftovers running when the command returned")
            after = sb.exec(["python3", "-c", _COUNT, *halves], timeout=20)
            left = _lines(after.output, "LEFT")
            ev.check(left == ["0"], f"as {user}: {left[0] if left else '?'} leftover(s) survived the command")
            procs = _lines(after.output, "PROCS")
            ev.check(procs == _lines(baseline.output, "PROCS"),
                     f"as {user}: the sandbox is back to its {procs[0] if procs else '?'} processes")
        alive = sb.exec(["echo", "alive"], timeout=20)
        ev.check(alive.output == "alive\n", "the keeper survived: the sandbox still runs commands")
    ev.check(_container_gone(ctx.client, container, wait=10), "container removed on close")
    survivors = _host_processes_with(marker)
    ev.check(not survivors, f"still running on the host: {survivors}" if survivors else "no process left on the host")


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


# ---------------------------------------------------------------- files

_HOSTILE_IN = ["../escape.txt", "/workspace/../../etc/evil", "a/../../b", "x\0y", "", "/", ".."]


@attack("hostile-filename-in", "copy files in under names that climb out, and a symlink to a host secret")
def _hostile_in(ctx: Context, ev: Evidence) -> None:
    with ctx.sandbox() as sb:
        refused = 0
        for name in _HOSTILE_IN:
            try:
                sb.write_file(name, "evil")
            except UnsafePath:
                refused += 1
        ev.check(refused == len(_HOSTILE_IN), f"{refused}/{len(_HOSTILE_IN)} hostile names refused")
        tree = Path(tempfile.mkdtemp(dir=ctx.watch_dir, prefix="in-"))
        (tree / "ok.txt").write_text("fine")
        (tree / "secret").symlink_to(ctx.canary_file)
        sb.copy_in(tree, "tree")
        r = sb.exec("cat tree/ok.txt; echo; cat tree/secret; ls -la / | grep -c evil", timeout=20)
        shutil.rmtree(tree)
    ev.check("fine" in r.output, "ordinary file copied in")
    ev.check(ctx.canary not in r.output, "host symlink not followed: the secret stayed outside")
    ev.check(r.output.strip().endswith("0"), "nothing written outside the workspace")


_HOSTILE_OUT = """
import os, sys
host_file = sys.argv[1]
os.makedirs("out/sub")
open("out/ok.txt", "w").write("fine")
os.symlink("/etc/passwd", "out/link")
os.symlink(host_file, "out/hostlink")
os.symlink("/", "out/dirlink")
os.symlink("../../../../../../tmp", "out/sub/up")
os.mkfifo("out/fifo")
os.link("out/ok.txt", "out/hard")
open("out/we\\nird", "w").write("odd name")
os.makedirs("big")
with open("big/sparse", "wb") as f:
    f.truncate(1 << 40)
print("READY")
"""


@attack("hostile-filename-out", "copy out symlinks to host files, FIFOs, links and a 1 TiB sparse file")
def _hostile_out(ctx: Context, ev: Evidence) -> None:
    dest = Path(tempfile.mkdtemp(dir=ctx.watch_dir, prefix="out-"))
    before = sorted(p.name for p in ctx.watch_dir.iterdir())
    with ctx.sandbox(max_transfer_bytes="64m") as sb:
        r = sb.exec(["python3", "-c", _HOSTILE_OUT, str(ctx.canary_file)], timeout=30)
        ev.check("READY" in r.output, "hostile tree prepared")
        report = sb.copy_out("out", dest)
        try:
            sb.read_file("out/link")
            ev.check(False, "read_file followed a symlink")
        except NotARegularFile:
            ev.check(True, "read_file refuses symlinks")
        try:
            sb.copy_out("big", dest / "big")
            ev.check(False, "a 1 TiB sparse file was copied out")
        except TransferTooLarge:
            ev.check(True, "1 TiB sparse file refused before it was copied")
    links = [str(p) for p in dest.rglob("*") if p.is_symlink() or not (p.is_file() or p.is_dir())]
    ev.check(not links, f"links or specials on the host: {links}" if links else "no links or FIFOs created on the host")
    ev.check((dest / "ok.txt").read_text() == "fine", "ordinary file copied out")
    skipped = sorted(name for name, _ in report.skipped)
    expected = ["dirlink", "fifo", "hostlink", "link", "sub/up"]
    ev.check(skipped == expected, f"skipped and reported: {', '.join(skipped)}")
    after = sorted(p.name for p in ctx.watch_dir.iterdir())
    ev.check(before == after, "nothing written beside the destination")


_OUTPUTS = ("patch.diff", "trajectory.jsonl", "summary.json")  # what an agent hands back (evaluator.contract)
_SPARSE_OUTPUTS = """
set -e
mkdir -p out dense
for f in patch.diff trajectory.jsonl summary.json; do truncate -s 500M out/$f; done
head -c 24000000 /dev/urandom > dense/dense.bin
printf '{"ok": true}' > small.json
echo READY
"""


@contextlib.contextmanager
def _host_usage(where: Path) -> Iterator[dict[str, int]]:
    """Measure what the host spends inside the block: Python heap peak, resident peak growth, disk used."""
    usage: dict[str, int] = {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    free_before = shutil.disk_usage(where).free
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield usage
    finally:
        usage["heap_peak"] = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
        usage["rss_growth"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
        usage["disk_used"] = free_before - shutil.disk_usage(where).free


@attack("copy-back-sparse", "hand back outputs as 500 MiB sparse files, and files far over the read cap")
def _copy_back_sparse(ctx: Context, ev: Evidence) -> None:
    dest = Path(tempfile.mkdtemp(dir=ctx.watch_dir, prefix="back-"))
    cap = 8 * 1024 * 1024
    with ctx.sandbox() as sb:
        ready = sb.exec(_SPARSE_OUTPUTS, timeout=60)
        ev.check("READY" in ready.output, "three 500 MiB sparse outputs and a 24 MB file written")
        attempts: list[tuple[str, type[Exception], Callable[[], object]]] = [
            *[(f"read_file out/{n}", SparseFile, lambda n=n: sb.read_file(f"out/{n}")) for n in _OUTPUTS],
            ("read_files with a small file", SparseFile, lambda: sb.read_files(["small.json", "out/summary.json"])),
            ("copy_out out", SparseFile, lambda: sb.copy_out("out", dest / "out")),
            ("read_file of 24 MB, cap 8 MiB", TransferTooLarge, lambda: sb.read_file("dense/dense.bin", max_bytes=cap)),
            ("copy_out of 24 MB, cap 8 MiB", TransferTooLarge, lambda: sb.copy_out("dense", dest / "d", max_bytes=cap)),
        ]
        got_through = []
        started = time.monotonic()
        with _host_usage(Path(tempfile.gettempdir())) as usage:
            for label, expected, call in attempts:
                try:
                    call()
                    got_through.append(f"{label}: copied")
                except expected:
                    pass
                except SandboxError as exc:
                    got_through.append(f"{label}: {type(exc).__name__}")
            small = sb.read_file("small.json", max_bytes=1024)
        took = time.monotonic() - started
        tars = sb.exec("pgrep -c -x tar || true", timeout=20).output.strip()
    ev.check(not got_through, f"not refused as expected: {got_through}" if got_through else
             f"{len(attempts)} copies refused before a byte was copied (sparse: SparseFile; over the cap: "
             "TransferTooLarge)")
    ev.check(small == b'{"ok": true}', "a small file under its cap still reads")
    ev.check(took < 30, f"the refusals took {took:.1f} s")
    ev.check(tars == "0", "no tar left running inside")
    mib = 1024 * 1024
    ev.check(usage["heap_peak"] < 4 * mib, f"host Python heap peaked at {usage['heap_peak'] / mib:.1f} MiB")
    ev.check(usage["rss_growth"] < 64 * mib, f"host resident peak grew by {usage['rss_growth'] / mib:.0f} MiB")
    ev.check(usage["disk_used"] < 128 * mib, f"host temp disk used {usage['disk_used'] / mib:.0f} MiB")
    files = [str(p) for p in dest.rglob("*") if p.is_file()]
    ev.check(not files, f"files written on the host: {files}" if files else "nothing written on the host")


_SWAPPER = """
cd /workspace
truncate -s 300M big.tmp && head -c 200000 /dev/urandom > dense.tmp && echo small > small.tmp
sh -c 'while :; do for f in big dense small; do ln -f $f.tmp next && mv -f next race; done; done' "$1$2" \
    >/dev/null 2>&1 &
echo SWAPPING
"""


@attack("copy-back-race", "swap a small output for a huge sparse or dense one while the host copies it")
def _copy_back_race(ctx: Context, ev: Evidence) -> None:
    cap = 64 * 1024
    marker = "clade-swap-" + secrets.token_hex(6)
    halves = [marker[:8], marker[8:]]
    outcomes: dict[str, int] = {}
    largest = 0
    with ctx.sandbox(max_transfer_bytes="16m") as sb:
        r = sb.exec(["sh", "-c", _SWAPPER, "sh", *halves], timeout=30, kill_leftovers=False)  # it must keep running
        ev.check("SWAPPING" in r.output, "a process swaps the output between a small, a dense and a sparse file")
        with _host_usage(Path(tempfile.gettempdir())) as usage:
            for _ in range(30):
                try:
                    data = sb.read_file("race", max_bytes=cap)
                    largest = max(largest, len(data))
                    key = "small read" if data == b"small\n" else "other read"
                except TransferTooLarge as exc:  # SparseFile too
                    late = "after the check" in str(exc) or "check before the copy admitted" in str(exc)
                    key = f"{type(exc).__name__}{' (on the host)' if late else ''}"
                except SandboxError as exc:
                    key = type(exc).__name__
                outcomes[key] = outcomes.get(key, 0) + 1
        running = _lines(sb.exec(["python3", "-c", _COUNT, *halves], timeout=20, kill_leftovers=False).output,
                         "LEFT")
        after = _lines(sb.exec(["python3", "-c", _COUNT, *halves], timeout=20).output, "LEFT")
        left = _lines(sb.exec(["python3", "-c", _COUNT, *halves], timeout=20).output, "LEFT")
    shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    # (at times a forked child of the swapper, not yet exec'd, holds its command line too: "at least 1")
    ev.check(bool(running) and int(running[0]) >= 1, "the swapper ran through every read")
    ev.check(largest <= cap, f"largest read {largest} bytes (cap {cap})")
    expected = {"small read", "SparseFile", "TransferTooLarge", "TransferTooLarge (on the host)"}
    ev.check(set(outcomes) <= expected, f"30 reads: {shown}")
    mib = 1024 * 1024
    ev.check(usage["heap_peak"] < 4 * mib, f"host Python heap peaked at {usage['heap_peak'] / mib:.1f} MiB")
    ev.check(usage["disk_used"] < 128 * mib, f"host temp disk used {usage['disk_used'] / mib:.0f} MiB")
    ev.check(bool(after) and int(after[0]) >= 1 and left == ["0"],
             "the swapper was killed when the next command returned" if left == ["0"]
             else f"the swapper survived the next command (counted {after} then {left})")


# ----------------------------------------------------------------- runner

def _container_gone(client: docker.DockerClient, container_id: str, wait: float = 0.0) -> bool:
    give_up = time.monotonic() + wait
    while True:
        try:
            client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return True
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.2)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _next_sandbox_works(ctx: Context) -> bool:
    try:
        with DockerSandbox(ctx.image, client=ctx.client) as sb:
            return sb.exec(["echo", "ok"], timeout=30).output == "ok\n"
    except SandboxError:
        return False


def names() -> list[str]:
    """The names of all attacks, in the order they run."""
    return [a.name for a in ATTACKS]


def run_attacks(
    selected: Sequence[str] | None = None,
    *,
    image: str | None = None,
    on_result: Callable[[AttackResult], None] | None = None,
) -> list[AttackResult]:
    """Run the attacks (all, or those named) and return one verdict each.

    Sets a canary secret in this process's environment while it runs (and
    removes it after), so that a leak of the host environment would show.
    """
    chosen = [a for a in ATTACKS if selected is None or a.name in selected]
    unknown = set(selected or ()) - {a.name for a in ATTACKS}
    if unknown:
        raise SandboxError(f"unknown attack(s) {sorted(unknown)}; known: {', '.join(names())}")
    client = get_client()
    canary = "clade-canary-" + secrets.token_hex(16)
    saved = {k: os.environ.get(k) for k in (CANARY_ENV, *_SECRET_ENVS)}
    results = []
    with tempfile.TemporaryDirectory(prefix="clade-attacks-") as tmp:
        watch = Path(tmp) / "watched"
        watch.mkdir()
        canary_file = Path(tmp) / "host-secret.txt"
        canary_file.write_text(canary)
        canary_file.chmod(0o644)
        original = _digest(canary_file)
        os.environ.update({k: canary for k in (CANARY_ENV, *_SECRET_ENVS)})
        try:
            for item in chosen:
                ctx = Context(image=image, canary=canary, canary_file=canary_file, watch_dir=watch, client=client)
                results.append(_run_one(item, ctx, original))
                if on_result:
                    on_result(results[-1])
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return results


def _run_one(item: Attack, ctx: Context, canary_digest: str) -> AttackResult:
    ev = Evidence()
    started = time.monotonic()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    disk_before = shutil.disk_usage(tempfile.gettempdir()).free
    try:
        item.run(ctx, ev)
    except SandboxError as exc:
        ev.check(False, f"sandbox error: {exc}")
    except Exception as exc:  # noqa: BLE001 - an attack that crashes the harness is not contained
        ev.check(False, f"{type(exc).__name__}: {exc}")
    host = Evidence()
    host.check(_digest(ctx.canary_file) == canary_digest, "canary file unchanged")
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    host.check(grew < HOST_MEMORY_SLACK, f"host memory peak grew by {grew >> 20} MiB" if grew >= HOST_MEMORY_SLACK
               else "host memory held")
    used = disk_before - shutil.disk_usage(tempfile.gettempdir()).free
    host.check(used < HOST_DISK_SLACK, f"host disk lost {used >> 20} MiB" if used >= HOST_DISK_SLACK
               else "host disk held")
    leftover = [c[:12] for c in ctx.opened if not _container_gone(ctx.client, c, wait=10)]
    host.check(not leftover, f"containers left: {leftover}" if leftover else "containers removed")
    host.check(subprocess.run(["true"]).returncode == 0, "host runs processes")
    host.check(_next_sandbox_works(ctx), "next sandbox works")
    return AttackResult(
        name=item.name,
        description=item.description,
        contained=ev.contained and host.contained,
        detail=ev.summary(),
        host=host.summary(),
        duration=time.monotonic() - started,
    )
