"""The grading harness's test runner, run inside the grading sandbox.

It runs as the test user, like the code under test, so it is protected in
another way: it reads the per-run secret from its standard input (never
from its environment or command line, which the wrapper processes above it
would show under /proc), makes itself non-dumpable, so that no other
process of the same user can read its memory or file descriptors (nor
ptrace it), and kills every other process of its user. It starts each test
process itself, with a clean environment and only the pipes it gives it,
records the exit status the kernel reports, kills whatever the tests left
running, and prints ONE line: the report, behind the secret. Nothing a test
prints can carry the secret, so printed text is never evidence.

Standard library only, Python 3.6+: it runs under whatever `python3` the
task's image has. Usage: python3 -I -S runner.py PLAN.json < SECRET
"""

import base64
import ctypes
import json
import os
import random
import select
import signal
import subprocess
import sys
import time

PLUGIN_FD_ENV = "CLADE_PLUGIN_FD"
TAIL_BYTES = 16 * 1024  # output kept per test process
LOG_BYTES = 256 * 1024  # output kept of a whole-suite run (head and tail)
PR_SET_DUMPABLE = 4


def hide_self():
    """Non-dumpable: /proc/<pid>/{environ,mem,fd} become root's, ptrace is refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_others():
    """SIGKILL every process of this user but this one and its ancestors (the exec's wrappers)."""
    me, keep = os.getuid(), set()
    pid = os.getpid()
    while pid > 1:
        keep.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    for _ in range(5):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in keep:
                continue
            try:
                if os.stat("/proc/" + name).st_uid != me:
                    continue
                os.kill(int(name), signal.SIGKILL)
                found = True
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.05)


class Capture:
    """Head and tail of a stream, with the lines that carry a plugin secret taken out."""

    def __init__(self, limit, tag=None):
        self.limit, self.tag = limit, tag
        self.head, self.tail, self.dropped = bytearray(), bytearray(), 0
        self.partial, self.records = b"", []

    def feed(self, data):
        if self.tag is not None:
            data = self._take_records(data)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.limit // 2:
            cut = len(self.tail) - self.limit // 2
            self.dropped += cut
            del self.tail[:cut]

    def _take_records(self, data):
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > 1024 * 1024:  # a flood without newlines: no record is that long
            lines.append(self.partial)
            self.partial = b""
        kept = []
        for line in lines:
            at = line.find(self.tag)
            if at >= 0 and len(self.records) < 100000:
                self.records.append(line[at + len(self.tag):].strip().decode("utf-8", "replace"))
                line = line[:at]
                if not line:
                    continue
            kept.append(line + b"\n")
        return b"".join(kept)

    def text(self):
        middle = "\n[... %d bytes dropped ...]\n" % self.dropped if self.dropped else ""
        rest = self.partial if self.tag is not None else b""
        return (bytes(self.head).decode("utf-8", "replace") + middle
                + bytes(self.tail + rest).decode("utf-8", "replace"))


def run_child(argv, cwd, env, deadline, capture, pass_fds=()):
    """Run one process in its own group; (exit status or None on timeout, seconds)."""
    started = time.monotonic()
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds,
                                 close_fds=True)
    except OSError as exc:
        capture.feed(("clade harness: cannot start %s: %s\n" % (argv[0], exc)).encode())
        return 127, 0.0
    out = child.stdout.fileno()
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([out], [], [], min(left, 1.0))
        if ready:
            data = os.read(out, 65536)
            if not data:
                break
            capture.feed(data)
    # The group may hold helpers that outlive the test: they end with it.
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        pass
    status = child.wait()
    child.stdout.close()
    return (None if timed_out else status), time.monotonic() - started


def child_env(plan):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp"}
    env.update(plan.get("env") or {})
    return env


def run_suite(plan, deadline):
    """One process runs the whole suite (pytest with Clade's plugin, or the task's own command)."""
    env = child_env(plan)
    fds = ()
    tag = None
    if plan.get("plugin"):
        plugin_secret = base64.b32encode(os.urandom(20)).decode().rstrip("=")
        read_end, write_end = os.pipe()
        os.write(write_end, plugin_secret.encode() + b"\n")
        os.close(write_end)
        env[PLUGIN_FD_ENV] = str(read_end)
        fds = (read_end,)
        tag = ("@@clade " + plugin_secret + " ").encode()
    capture = Capture(LOG_BYTES, tag)
    status, seconds = run_child(plan["argv"], plan["cwd"], env, deadline, capture, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    return {"mode": "suite", "exit_code": status, "timed_out": status is None, "seconds": round(seconds, 3),
            "records": capture.records, "output": capture.text()}


def run_each(plan, deadline):
    """One process per test, in the order given (the host shuffles it)."""
    env = child_env(plan)
    results = []
    for test in plan["tests"]:
        capture = Capture(TAIL_BYTES)
        if time.monotonic() >= deadline:
            results.append({"id": test["id"], "exit_code": None, "timed_out": True, "seconds": 0.0, "output": ""})
            continue
        status, seconds = run_child(test["argv"], plan["cwd"], env, deadline, capture)
        results.append({"id": test["id"], "exit_code": status, "timed_out": status is None,
                        "seconds": round(seconds, 3), "output": capture.text()})
    return {"mode": "each", "tests": results}


def main():
    secret = sys.stdin.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)  # the pipe goes; fd 0 stays taken, so no pipe of ours lands there
    os.dup2(devnull, 0)
    os.close(devnull)
    hidden = hide_self()
    kill_others()
    with open(sys.argv[1]) as handle:
        plan = json.load(handle)
    deadline = time.monotonic() + float(plan.get("timeout", 300))
    report = run_suite(plan, deadline) if plan["mode"] == "suite" else run_each(plan, deadline)
    kill_others()  # nothing a test started may outlive it and see the report
    report["non_dumpable"] = hidden
    report["nonce"] = random.random()  # two reports of one run never look alike
    line = "CLADE-REPORT %s %s\n" % (secret, base64.b64encode(json.dumps(report).encode()).decode())
    sys.stdout.write(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
