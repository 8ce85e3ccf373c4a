"""Clade's seccomp profile: Docker's default minus `seccomp.REMOVED`, on every sandbox; ordinary work unharmed."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from sandbox import seccomp
from sandbox.docker_sandbox import DockerSandbox

_IO_URING_SETUP = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
fd = libc.syscall(425, 8, params)  # io_uring_setup on x86_64 and arm64
print("FD", fd, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if fd < 0 else "-")
"""


# ------------------------------------------------------------------ the profile itself (no Docker)

def test_the_upstream_copy_is_the_unedited_moby_file() -> None:
    assert seccomp.upstream_digest() == seccomp.UPSTREAM_SHA256
    assert "v20.10.24" in seccomp.UPSTREAM_SOURCE and "v20.10.24" in (seccomp.__doc__ or "")


def test_the_profile_is_upstream_minus_exactly_the_removals() -> None:
    upstream, ours = seccomp.upstream(), seccomp.profile()
    assert {k: v for k, v in ours.items() if k != "syscalls"} == {k: v for k, v in upstream.items() if k != "syscalls"}
    kept = iter(ours["syscalls"])
    for rule in upstream["syscalls"]:
        names = [n for n in rule["names"] if n not in seccomp.REMOVED]
        if names:  # the same rule, in the same place, with only the removed names gone
            assert next(kept) == {**rule, "names": names}
    assert next(kept, None) is None
    everywhere = {n for rule in ours["syscalls"] for n in rule["names"]}
    assert not everywhere & set(seccomp.REMOVED)


def test_io_uring_was_allowed_upstream_and_is_not_any_more() -> None:
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open"):
        assert seccomp.allowed_somewhere(seccomp.upstream(), name), name
    for name in seccomp.REMOVED:
        assert not seccomp.allowed_somewhere(seccomp.profile(), name), name
    assert seccomp.allowed_somewhere(seccomp.profile(), "read")
    assert seccomp.allowed_somewhere(seccomp.profile(), "ptrace")  # debuggers still work


def test_the_security_option_carries_the_profile_as_json() -> None:
    option = seccomp.security_opt()
    assert option.startswith("seccomp=")
    assert json.loads(option.removeprefix("seccomp=")) == seccomp.profile()


# ------------------------------------------------------------------ in a real sandbox

@pytest.mark.docker
def test_every_sandbox_runs_under_clades_profile(sandbox: DockerSandbox, docker_client) -> None:  # noqa: ANN001
    options = docker_client.api.inspect_container(sandbox.id)["HostConfig"]["SecurityOpt"]
    assert "no-new-privileges:true" in options
    assert seccomp.security_opt() in options
    status = sandbox.exec("grep Seccomp: /proc/self/status", timeout=30).output.split()
    assert status[:2] == ["Seccomp:", "2"]


@pytest.mark.docker
def test_io_uring_setup_is_refused_inside(sandbox: DockerSandbox) -> None:
    result = sandbox.exec(["python3", "-c", _IO_URING_SETUP], timeout=30)
    assert result.ok, result.output
    words = result.output.split()
    assert words[:2] == ["FD", "-1"] and words[2] in ("EPERM", "ENOSYS"), result.output


@pytest.mark.docker
def test_dockers_own_default_would_have_allowed_it(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason for the profile: on this engine the built-in default lets io_uring through."""
    original = DockerSandbox._host_config

    def engine_default(self: DockerSandbox, mounts: list) -> dict:  # type: ignore[type-arg]
        config = original(self, mounts)
        config["security_opt"] = ["no-new-privileges:true"]
        return config

    monkeypatch.setattr(DockerSandbox, "_host_config", engine_default)
    with DockerSandbox(sandbox_image) as sb:
        words = sb.exec(["python3", "-c", _IO_URING_SETUP], timeout=30).output.split()
        disabled = sb.exec("cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0", timeout=30).output.strip()
    if disabled != "0":
        pytest.skip(f"this kernel disables io_uring itself (io_uring_disabled={disabled})")
    assert words[:1] == ["FD"] and int(words[1]) >= 0, words


def _wheel() -> bytes:
    """A minimal pure-Python wheel, so that pip can install it with no index and no build step."""
    files = {
        "cladehello/__init__.py": "def hello():\n    return 'hello from a wheel'\n",
        "cladehello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: cladehello\nVersion: 1.0\n",
        "cladehello-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: clade-test\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "cladehello-1.0.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in {**files, "cladehello-1.0.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return buffer.getvalue()


_ORDINARY = r"""
set -e
python3 - <<'EOF'
import asyncio, concurrent.futures, multiprocessing, os, select, subprocess, threading, tempfile, mmap
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    assert sum(pool.map(lambda x: x * x, range(100))) == 328350
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2]) == [1, 2]
async def main():
    proc = await asyncio.create_subprocess_exec("echo", "async", stdout=asyncio.subprocess.PIPE)
    return (await proc.communicate())[0]
assert asyncio.run(main()) == b"async\n"
ep = select.epoll(); ep.close()
with tempfile.TemporaryFile() as f:
    f.write(b"x" * 4096); f.flush()
    with mmap.mmap(f.fileno(), 4096) as m:
        assert m[:1] == b"x"
print("python ok")
EOF
cd /workspace && git init -q repo && cd repo
git -c user.email=a@b -c user.name=clade commit -q --allow-empty -m first && git log --oneline | wc -l
pip install --no-index --no-deps --disable-pip-version-check -q --target /tmp/site \
    /workspace/cladehello-1.0-py3-none-any.whl
PYTHONPATH=/tmp/site python3 -c 'import cladehello; print(cladehello.hello())'
cat > /tmp/t.c <<'EOF'
#include <pthread.h>
#include <stdio.h>
static void *work(void *arg) { return arg; }
int main(void) { pthread_t t; void *r; pthread_create(&t, 0, work, "threads"); pthread_join(t, &r);
                 printf("compiled with %s\n", (char *)r); return 0; }
EOF
gcc -O2 -pthread -o /tmp/t /tmp/t.c && /tmp/t
python3 -m pytest --version
"""


@pytest.mark.docker
def test_ordinary_work_still_runs(sandbox: DockerSandbox) -> None:
    sandbox.write_file("cladehello-1.0-py3-none-any.whl", _wheel())
    result = sandbox.exec(_ORDINARY, timeout=180)
    assert result.ok, result.output
    lines = result.output.splitlines()
    assert "python ok" in lines
    assert "1" in lines  # one git commit
    assert "hello from a wheel" in lines
    assert "compiled with threads" in lines
    assert any(line.startswith("pytest ") for line in lines)
