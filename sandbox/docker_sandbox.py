"""The Docker implementation of `Sandbox`: one hardened container per sandbox.

What a container gets, and why:

* no network (``network_mode=none``: only its own loopback), no Docker
  socket, no host environment: the only way out is the optional LLM
  gateway socket mounted at `LLM_SOCKET_PATH`, also served as plain HTTP
  on the loopback (`sandbox.loopback`) for agents that expect a URL;
* every command runs as uid 1000 with all capabilities dropped and
  ``no-new-privileges`` (set-uid programs cannot elevate), under Clade's
  seccomp profile (`sandbox.seccomp`: Docker's default without io_uring,
  userfaultfd, the keyring, bpf and perf_event_open);
* a read-only root; the writable places are size-capped tmpfs mounts
  (/workspace, /tmp, the home directory, /dev/shm), whose pages are also
  charged to the memory limit. tmpfs rather than a writable layer because
  this engine's storage driver (fuse-overlayfs) cannot cap a layer's size;
* memory with swap included, CPU, process (pids) and open-file limits, no
  core dumps, no container log;
* a keeper process (``sleep <lifetime>``, as *another* user under Docker's
  init, so that the sandbox user can neither kill it nor be left as a
  zombie) whose end is the sandbox's end: the container stops and Docker
  removes it, even if the process that made it was killed;
* labels naming the owning process, so orphans can be reaped (`reaper`).

Each exec runs under coreutils ``timeout`` (TERM at the limit, KILL one
second later, to the command's whole process group) and is also cut off
on the host side a few seconds later whatever happens inside. When it
returns, every process left of the user it ran as is killed
(``kill_leftovers``, the default), however it got away: ``setsid``,
``env -i``, double forks. Without that option, only a timed-out command's
leftovers are killed, found by a per-exec environment marker.

Files come out only after a check *inside* the sandbox (`stat`/`find`:
size, allocated blocks, type): a file over the caller's cap, or sparse
(holes that cost the sandbox nothing but the host their full size), is
refused before any byte is copied, and the host still bounds the stream
it reads (spooled to disk past a few MiB) in case a file changes between
the check and the copy.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

import docker.errors
import requests
from docker.types import LogConfig, Mount, Ulimit

import docker
from sandbox import cleanup, loopback, reaper, recipe, seccomp, stream, transfer
from sandbox.base import COPY_MAX_FILES, READ_MAX_BYTES, Command, CopyReport, ExecResult, Sandbox
from sandbox.client import get_client, is_connection_error, unavailable
from sandbox.errors import (
    NotARegularFile,
    SandboxClosed,
    SandboxError,
    SandboxExpired,
    SandboxFileNotFound,
    SocketMountError,
    TransferFailed,
    TransferTooLarge,
)
from sandbox.image import missing_image_error
from sandbox.limits import SandboxLimits, format_size
from sandbox.output import HeadTail

log = logging.getLogger(__name__)
cleanup.install()  # on the main thread: the handlers that close this process's sandboxes on SIGTERM/SIGINT

LLM_SOCKET_PATH = recipe.LLM_SOCKET_PATH
EXEC_USER = f"{recipe.SANDBOX_UID}:{recipe.SANDBOX_UID}"
# The users a command or a file transfer may run as (see `Sandbox.exec`).
USERS = {"sandbox": EXEC_USER, "grader": f"{recipe.GRADER_UID}:{recipe.GRADER_UID}"}
# The keeper runs as nobody: a different uid than the sandbox user's, so
# `kill -9 -1` inside cannot end the sandbox early.
KEEPER_USER = "65534:65534"
MARKER_ENV = "CLADE_EXEC_ID"
TIMEOUT_EXIT = 124

# TERM at the limit, KILL this much later (coreutils `timeout -k`).
_KILL_AFTER_S = 1.0
# Docker keeps an exec's stream open up to ~2 s after the command exits
# when background processes still hold its output; then the host gives up.
_HOST_GRACE_S = 4.0
_KILLER_TIMEOUT_S = 10.0
_REMOVE_WAIT_S = 15.0

_KILL_SCRIPT = (
    'for f in $(grep -lsz "^$1=$2\\$" /proc/[0-9]*/environ); do '
    'p=${f#/proc/}; kill -9 "${p%/environ}" 2>/dev/null; done; exit 0'
)
# Kill every process of the user this runs as (run as that user: it cannot
# touch the keeper or the other user's processes), then wait until none is
# left (zombies: a short while for init to reap them). Arguments, if any, are `grep -e` patterns of markers
# whose processes are spared (other execs of the same user still running);
# then each pid is killed on its own instead of with the atomic `kill -1`.
# Only shell built-ins inside the loops, so that the scan sees no child of its own.
_KILL_LEFTOVERS_SCRIPT = r"""
spare=" "
if [ $# -gt 0 ]; then
  for f in $(grep -lsz "$@" /proc/[0-9]*/environ); do p=${f#/proc/}; spare="$spare${p%/environ} "; done
fi
round=0
while :; do
  [ "$spare" = " " ] && kill -9 -1 2>/dev/null
  left=
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    case $spare in *" $p "*) continue;; esac
    if [ "$spare" = " " ]; then [ -O "$d" ] || continue; else kill -9 "$p" 2>/dev/null || continue; fi
    read -r st 2>/dev/null < "$d/stat" || continue
    case ${st##*)} in " Z"*) left=${left:-zombie};; *) left=live;; esac
  done
  [ -z "$left" ] && exit 0
  round=$((round + 1))
  [ "$left" = zombie ] && [ "$round" -ge 10 ] && exit 0
  [ "$round" -lt 40 ] || exit 1
  sleep 0.05
done
"""
# Reading files: stat each one first (run from /, the paths relative to it)
# and start tar only if none is refused; each refusal is one line on stderr,
# `clade-refused <index> <why> [numbers]` (index 0: the call as a whole).
_READ_SCRIPT = r"""
each=$1 total=$2 slack=$3
shift 3
i=0 sum=0 refused=0
fields() { size=$1; alloc=$(($2 * $3)); mode=$4; }
for f do
  i=$((i + 1))
  if ! s=$(LC_ALL=C stat -c '%s %b %B %f' -- "$f" 2>&1); then
    case $s in
      *"No such file"*|*"Not a directory"*) why=missing;;
      *"Permission denied"*) why=denied;;
      *) why=failed;;
    esac
    echo "clade-refused $i $why" >&2; refused=1; continue
  fi
  fields $s
  hole=$((size - alloc))
  case $mode in
    8???) ;;
    *) echo "clade-refused $i type $mode" >&2; refused=1; continue;;
  esac
  if [ ! -r "$f" ]; then echo "clade-refused $i denied" >&2; refused=1; continue; fi
  if [ "$hole" -gt "$slack" ] && [ "$hole" -gt $((size / 2)) ]; then
    echo "clade-refused $i sparse $size $alloc" >&2; refused=1
  elif [ "$size" -gt "$each" ]; then
    echo "clade-refused $i big $size" >&2; refused=1
  else
    sum=$((sum + size))
  fi
done
if [ "$sum" -gt "$total" ]; then echo "clade-refused 0 total $sum" >&2; refused=1; fi
[ "$refused" = 0 ] || exit 3
exec tar -c -f - --no-recursion -- "$@"
"""
# Copying a tree out: walk it first (from its parent) and start tar only if
# its regular files are few and small enough together and none is sparse.
_COPY_SCRIPT = r"""
cap=$1 files=$2 slack=$3 dir=$4 name=$5
if ! cd -- "$dir" 2>/dev/null; then
  if [ -e "$dir" ]; then echo "clade-refused 0 denied" >&2; else echo "clade-refused 0 missing" >&2; fi
  exit 3
fi
if ! s=$(LC_ALL=C stat -c %f -- "$name" 2>&1); then
  case $s in
    *"No such file"*|*"Not a directory"*) why=missing;;
    *"Permission denied"*) why=denied;;
    *) why=failed;;
  esac
  echo "clade-refused 0 $why" >&2; exit 3
fi
find -P "$name" -printf '%y %s %b %p
' 2>/dev/null | {
  sum=0 n=0
  while IFS= read -r line; do
    n=$((n + 1))
    if [ "$n" -gt "$files" ]; then echo "clade-refused 0 count $n" >&2; exit 3; fi
    case $line in "f "*) ;; *) continue;; esac
    rest=${line#f }; size=${rest%% *}; rest=${rest#* }; blocks=${rest%% *}; path=${rest#* }
    case $size$blocks in ''|*[!0-9]*) continue;; esac
    alloc=$((blocks * 512))
    hole=$((size - alloc))
    if [ "$hole" -gt "$slack" ] && [ "$hole" -gt $((size / 2)) ]; then
      printf 'clade-refused 0 sparse %s %s %s\n' "$size" "$alloc" "$path" >&2; exit 3
    fi
    if [ "$size" -gt "$cap" ]; then printf 'clade-refused 0 big %s %s\n' "$size" "$path" >&2; exit 3; fi
    sum=$((sum + size))
    if [ "$sum" -gt "$cap" ]; then echo "clade-refused 0 total $sum" >&2; exit 3; fi
  done
  exit 0
}
status=$?
[ "$status" = 0 ] || exit "$status"
exec tar -c -f - -- "$name"
"""
_REFUSED_EXIT = 3
# A read spools what tar sends in memory up to this much, then on disk.
_SPOOL_BYTES = 16 * 1024 * 1024


class DockerSandbox(Sandbox):
    """A running, hardened container; created and started by the constructor.

    ``image`` defaults to `recipe.runtime_image_tag()`. ``llm_socket`` is a
    host Unix socket (the LLM gateway's) to mount at `LLM_SOCKET_PATH`; the
    sandbox user (uid 1000) must be allowed to connect to it. ``env`` is
    the whole environment commands see besides PATH, HOME, USER and LANG:
    nothing is inherited from the host. ``workspace_owner`` (``"sandbox"``
    or ``"grader"``) owns /workspace: a grading sandbox gives it to the
    grader, so that the code under test cannot write the repository.
    """

    def __init__(
        self,
        image: str | None = None,
        limits: SandboxLimits | None = None,
        *,
        llm_socket: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        client: docker.DockerClient | None = None,
        workspace_owner: str = "sandbox",
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._workspace_uid = int(_user(workspace_owner).split(":")[0])
        self.image = image or recipe.runtime_image_tag()
        self.workdir = recipe.WORKSPACE
        self._client = client or get_client()
        self._api = self._client.api
        self._lock = threading.RLock()
        self._kill_lock = threading.Lock()  # one leftover-killer at a time (they would kill each other)
        self._inflight: dict[str, str] = {}  # marker -> uid:gid of every exec running now
        self._closed = False
        self.id = ""
        reaper.reap_orphans_once(self._client)

        environment = {
            "PATH": recipe.PATH,
            "HOME": recipe.HOME,
            "USER": recipe.SANDBOX_USER,
            "LOGNAME": recipe.SANDBOX_USER,
            "LANG": "C.UTF-8",
        }
        mounts = []
        if llm_socket is not None:
            mounts.append(_socket_mount(Path(llm_socket)))
            environment["CLADE_LLM_SOCKET"] = LLM_SOCKET_PATH
        environment.update(_check_env(env or {}))

        self._deadline = time.monotonic() + self.limits.lifetime
        with cleanup.creating():  # a signal now waits for the container to be registered, then closes it
            self.id = self._create(environment, mounts)
            cleanup.register(self)
        try:
            self._api.start(self.id)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            self.close()
            if is_connection_error(exc):
                raise unavailable(exc) from exc
            explanation = getattr(exc, "explanation", None) or exc
            raise SandboxError(f"Docker could not start the sandbox: {explanation}") from exc
        if llm_socket is not None:
            self._start_loopback_relay()

    def _start_loopback_relay(self) -> None:
        """The gateway as plain HTTP on the sandbox's loopback (`sandbox.loopback`), started as the
        keeper's user: no exec of the sandbox user or the grader can kill it, and none of theirs
        ends it (leftovers are killed per user). It ends with the container."""
        try:
            created = self._api.exec_create(self.id, loopback.relay_argv(), user=KEEPER_USER, workdir="/")
            output = self._api.exec_start(created["Id"]).decode("utf-8", "replace").strip()
            code = self._api.exec_inspect(created["Id"])["ExitCode"]
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            self.close()
            raise SandboxError(f"Docker could not start the sandbox's model relay: {exc}") from exc
        if code != 0:
            self.close()
            hint = " (the image has no python3)" if code in (126, 127) else ""
            raise SandboxError(f"the sandbox's loopback model relay did not start{hint}: "
                               f"{_one_line(output) or f'exit {code}'}")

    def _create(self, environment: dict[str, str], mounts: list[Mount]) -> str:
        try:
            host_config = self._api.create_host_config(**self._host_config(mounts))
            created = self._api.create_container(
                self.image,
                ["sleep", f"{self.limits.lifetime:.3f}"],
                user=KEEPER_USER,
                environment=environment,
                working_dir=recipe.WORKSPACE,
                hostname="sandbox",
                labels=reaper.owner_labels(self.limits.lifetime),
                host_config=host_config,
            )
        except docker.errors.ImageNotFound as exc:
            raise missing_image_error(self.image) from exc
        except docker.errors.NotFound as exc:
            raise missing_image_error(self.image) from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"Docker refused to create a sandbox: {exc.explanation or exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise unavailable(exc) from exc
        return str(created["Id"])

    def _host_config(self, mounts: list[Mount]) -> dict[str, object]:
        lim = self.limits
        uid = recipe.SANDBOX_UID

        def tmpfs(size: int, owner: int | None, mode: str) -> str:
            owned = f",uid={owner},gid={owner}" if owner is not None else ""
            return f"rw,exec,nosuid,nodev,size={format_size(size)},mode={mode}{owned}"

        return {
            "network_mode": "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true", seccomp.security_opt()],
            "read_only": True,
            "tmpfs": {
                recipe.WORKSPACE: tmpfs(lim.workspace_size, self._workspace_uid, "0755"),
                "/tmp": tmpfs(lim.tmp_size, None, "1777"),
                recipe.HOME: tmpfs(lim.home_size, uid, "0755"),
            },
            "shm_size": lim.shm_size,
            "mem_limit": lim.memory,
            "memswap_limit": lim.memory,
            "nano_cpus": int(lim.cpus * 1e9),
            "pids_limit": lim.pids,
            "ulimits": [
                Ulimit(name="nofile", soft=lim.nofile, hard=lim.nofile),
                Ulimit(name="core", soft=0, hard=0),
            ],
            "init": True,
            "auto_remove": True,
            "log_config": LogConfig(type=LogConfig.types.NONE),
            "mounts": mounts,
            "ipc_mode": "private",
        }

    # ------------------------------------------------------------------ exec

    def exec(
        self,
        cmd: Command,
        *,
        timeout: float | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | str | None = None,
        user: str = "sandbox",
        kill_leftovers: bool = True,
    ) -> ExecResult:
        self._check_open()
        as_user = _user(user)
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]
        if not argv or any("\0" in a for a in argv):
            raise SandboxError("the command is empty or contains a NUL byte; give an argv list or a shell string")
        limit = self.limits.exec_timeout if timeout is None else float(timeout)
        if limit <= 0:
            raise SandboxError(f"timeout {timeout!r} must be a positive number of seconds")
        limit = min(limit, self._remaining())
        marker = uuid.uuid4().hex
        # One pipe for stdout and stderr (so their order is kept), then `timeout`, which replaces the shell.
        wrapped = ["/bin/sh", "-c", 'exec "$@" 2>&1', "sh", "timeout", "-k", f"{_KILL_AFTER_S:g}",
                   f"{max(limit, 0.01):.3f}", *argv]
        capture = HeadTail(self.limits.max_output_bytes)
        data = input.encode() if isinstance(input, str) else input
        started = time.monotonic()
        outcome = self._stream(
            wrapped,
            workdir=self._workdir(workdir),
            env={**_check_env(env or {}), MARKER_ENV: marker},
            deadline=started + limit + _KILL_AFTER_S + _HOST_GRACE_S,
            on_stdout=capture.feed,
            on_stderr=capture.feed,
            stdin=data,
            user=as_user,
        )
        duration = time.monotonic() - started
        self._check_open()  # closed (from another thread) while the command ran: its result means nothing
        timed_out = outcome.deadline_hit or (outcome.exit_code in (124, 137) and duration >= limit)
        if outcome.exit_code is None and not outcome.deadline_hit:
            if self._deadline > time.monotonic():
                self._raise_if_gone()
                raise SandboxError(
                    f"Docker did not report how the command ended in sandbox {self.id[:12]}; "
                    "check the daemon's health (`docker info`) and run it again"
                )
            timed_out = True  # the container ended under the command: its lifetime ran out
        if kill_leftovers:
            self._kill_leftovers(as_user)
        elif timed_out:
            self._kill_marked(marker, as_user)
        return ExecResult(
            exit_code=TIMEOUT_EXIT if timed_out else int(outcome.exit_code),  # type: ignore[arg-type]
            output=capture.getvalue().decode("utf-8", errors="replace"),
            timed_out=timed_out,
            truncated=capture.truncated,
            duration=duration,
        )

    def _stream(self, argv: list[str], user: str = EXEC_USER, *, env: Mapping[str, str],
                **kwargs: object) -> stream.StreamOutcome:
        """`stream.run_exec` with Docker's errors turned into sandbox errors.

        Every command gets a marker in its environment (`MARKER_ENV`) and is
        recorded as running until it ends, so that a leftover-killer run
        meanwhile for the same user spares it.
        """
        self._check_open()
        env = dict(env)
        marker = env.setdefault(MARKER_ENV, uuid.uuid4().hex)
        with self._lock:
            self._inflight[marker] = user
        try:
            return stream.run_exec(self._api, self.id, argv, user=user, env=env, **kwargs)  # type: ignore[arg-type]
        except docker.errors.NotFound as exc:
            self._raise_if_gone()
            raise SandboxError(f"Docker could not run the command: {exc.explanation or exc}") from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # container not running
                self._raise_if_gone()
            raise SandboxError(f"Docker could not run the command: {exc.explanation or exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            if is_connection_error(exc):
                raise unavailable(exc) from exc
            raise SandboxError(f"Docker could not run the command: {exc}") from exc
        finally:
            with self._lock:
                self._inflight.pop(marker, None)

    def _kill_leftovers(self, user: str = EXEC_USER) -> None:
        """Kill every process of ``user`` in the sandbox but those of its other execs still running.

        Runs as ``user``, so the keeper (uid 65534) and the other sandbox
        user are out of its reach. Processes of a concurrent exec of the same
        user that dropped their environment marker (``env -i``) are killed
        too: they cannot be told from this command's.
        """
        if self._closed or self._deadline <= time.monotonic():
            return
        with self._kill_lock:
            with self._lock:
                spared = sorted(m for m, u in self._inflight.items() if u == user)
            patterns = [arg for m in spared for arg in ("-e", f"^{MARKER_ENV}={m}$")]
            try:
                outcome = self._run_killer(["/bin/sh", "-c", _KILL_LEFTOVERS_SCRIPT, "sh", *patterns], user)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                log.warning("could not kill the processes a command left in %s: %s", self.id[:12], exc)
                return
        if outcome.exit_code != 0 and not self._closed and self._deadline > time.monotonic():
            log.warning("processes a command left in sandbox %s would not die (killer exit %s)",
                        self.id[:12], outcome.exit_code)

    def _kill_marked(self, marker: str, user: str = EXEC_USER) -> None:
        """Kill what is left of a timed-out exec, including processes that left its group."""
        if self._closed or self._deadline <= time.monotonic():
            return
        try:
            self._run_killer(["/bin/sh", "-c", _KILL_SCRIPT, "sh", MARKER_ENV, marker], user)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("could not kill the leftovers of a timed-out command in %s: %s", self.id[:12], exc)

    def _run_killer(self, argv: list[str], user: str):  # noqa: ANN202 - stream's outcome
        """A short clean-up command as ``user``, its output discarded, bounded in time."""
        return stream.run_exec(self._api, self.id, argv, user=user, workdir="/", env={},
                               deadline=time.monotonic() + _KILLER_TIMEOUT_S,
                               on_stdout=lambda _: None, on_stderr=lambda _: None)

    # ----------------------------------------------------------------- files

    def write_files(self, files: Mapping[str, bytes | str], *, mode: int = 0o644, user: str = "sandbox") -> None:
        self._check_open()
        as_user = _user(user)
        payload = {
            transfer.sandbox_path(path, self.workdir): data.encode() if isinstance(data, str) else bytes(data)
            for path, data in files.items()
        }
        if not payload:
            return
        try:
            self._untar(transfer.pack_files(payload, mode), what=", ".join(payload), user=as_user)
        except TransferFailed:
            # Leave no half-written file behind to fill the disk or be mistaken for the real one.
            self._stream(["rm", "-f", "--", *payload], user=as_user, workdir="/", env={},
                         deadline=time.monotonic() + min(30.0, self._remaining()),
                         on_stdout=lambda _: None, on_stderr=lambda _: None)
            raise

    def read_files(self, paths: Iterable[str], *, max_bytes: int | None = None) -> dict[str, bytes]:
        self._check_open()
        asked = {path: transfer.sandbox_path(path, self.workdir) for path in paths}
        if not asked:
            return {}
        each = self._cap(max_bytes, READ_MAX_BYTES)
        total = self.limits.max_transfer_bytes
        members = sorted({p.lstrip("/") for p in asked.values()})
        argv = ["/bin/sh", "-c", _READ_SCRIPT, "sh", str(each), str(total), str(transfer.SPARSE_SLACK), *members]
        bound = transfer.read_stream_bound(members, each, total)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            code, errors = self._tar_out(argv, spool, bound, what="the files read")
            if code == _REFUSED_EXIT:
                refusals = transfer.parse_refusals(errors)
                by_member = {member: refusals.get(i) for i, member in enumerate(members, start=1)}
                for path, absolute in asked.items():
                    refusal = by_member.get(absolute.lstrip("/"))
                    if refusal is not None:
                        raise transfer.read_refusal(path, absolute, refusal, each)
                if 0 in refusals:
                    raise transfer.read_refusal("", "", refusals[0], total)
                raise SandboxError(f"reading {', '.join(asked)} from the sandbox was refused: {_one_line(errors)}")
            spool.seek(0)
            found = transfer.unpack_in_memory(spool, asked.values(), max_each=each)
        result: dict[str, bytes] = {}
        for path, absolute in asked.items():
            entry = found.get(absolute)
            if entry is None:
                raise _read_error(path, absolute, errors)
            if not isinstance(entry, bytes):
                raise NotARegularFile(
                    f"{absolute} in the sandbox is {transfer.describe(entry)}, not a regular file; "
                    "read the file it should contain, or use copy_out for a directory"
                )
            result[path] = entry
        return result

    def copy_in(self, host_path: str | Path, dest: str, *, user: str = "sandbox") -> None:
        self._check_open()
        as_user = _user(user)
        source = Path(host_path)
        if not source.exists() and not source.is_symlink():
            raise SandboxError(f"{source} does not exist on the host; nothing to copy into the sandbox")
        target = transfer.sandbox_path(dest, self.workdir)
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
            transfer.pack_host_path(source, target, spool)
            spool.seek(0)
            self._untar(spool, what=target, user=as_user)

    def copy_out(self, src: str, host_dir: str | Path, *, max_bytes: int | None = None,
                 max_files: int | None = None) -> CopyReport:
        self._check_open()
        cap = self._cap(max_bytes, self.limits.max_transfer_bytes)
        files = COPY_MAX_FILES if max_files is None else max(1, int(max_files))
        source = transfer.sandbox_path(src, self.workdir)
        parent, name = source.rsplit("/", 1)
        argv = ["/bin/sh", "-c", _COPY_SCRIPT, "sh", str(cap), str(files), str(transfer.SPARSE_SLACK),
                parent or "/", name]
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            code, errors = self._tar_out(argv, spool, self.limits.max_transfer_bytes, what=source)
            if code == _REFUSED_EXIT:
                refusal = transfer.parse_refusals(errors).get(0)
                if refusal is None:
                    raise SandboxError(f"copying {source} out of the sandbox was refused: {_one_line(errors)}")
                raise transfer.copy_refusal(src, source, refusal, cap, files)
            if "Cannot stat" in errors or spool.tell() == 0:
                raise _read_error(src, source, errors)
            spool.seek(0)
            return transfer.safe_extract(spool, name, Path(host_dir), max_bytes=cap, max_files=files)

    def _cap(self, asked: int | None, default: int) -> int:
        """A per-call byte cap: the caller's, or ``default``; never above the sandbox's transfer cap."""
        if asked is None:
            asked = default
        if isinstance(asked, bool) or not isinstance(asked, int) or asked < 0:
            raise SandboxError(f"max_bytes {asked!r} must be a whole number of bytes (0 or more)")
        return min(asked, self.limits.max_transfer_bytes)

    def _untar(self, data: bytes | IO[bytes], what: str, user: str = EXEC_USER) -> None:
        errors = HeadTail(8192)
        outcome = self._stream(
            ["tar", "-x", "-f", "-", "-C", "/", "--no-same-owner", "--no-overwrite-dir"],
            user=user,
            workdir="/",
            env={},
            deadline=time.monotonic() + min(self.limits.transfer_timeout, self._remaining()),
            on_stdout=errors.feed,
            on_stderr=errors.feed,
            stdin=data,
        )
        if outcome.exit_code != 0:
            detail = _one_line(errors.getvalue().decode(errors="replace")) or "timed out"
            raise TransferFailed(
                f"copying {what} into the sandbox failed: {detail}; write under {self.workdir} or /tmp, "
                "and check the sandbox's disk limits"
            )

    def _tar_out(self, argv: list[str], sink: IO[bytes], cap: int, what: str) -> tuple[int | None, str]:
        """Run a command that writes a tar to stdout into ``sink``, reading at most ``cap`` bytes of it.

        Returns its exit code and its messages. Past ``cap`` the command is
        killed and `TransferTooLarge` raised: the check inside admitted less,
        so what is being copied changed meanwhile.
        """
        errors = HeadTail(16384)
        total = 0

        def take(data: bytes) -> None:
            nonlocal total
            total += len(data)
            if total > cap:
                raise TransferTooLarge(
                    f"copying {what} out of the sandbox passed {format_size(cap)}, more than the check before "
                    "the copy admitted (did it change meanwhile?); copy less, or raise the cap"
                )
            sink.write(data)

        marker = uuid.uuid4().hex
        try:
            outcome = self._stream(
                argv,
                workdir="/",
                env={MARKER_ENV: marker},
                deadline=time.monotonic() + min(self.limits.transfer_timeout, self._remaining()),
                on_stdout=take,
                on_stderr=errors.feed,
            )
        except TransferTooLarge:
            self._kill_marked(marker)
            raise
        if outcome.deadline_hit:
            self._kill_marked(marker)
            raise TransferFailed(
                f"copying out of the sandbox took longer than {self.limits.transfer_timeout:g} s; "
                "copy less, or raise transfer_timeout in the sandbox limits"
            )
        return outcome.exit_code, errors.getvalue().decode(errors="replace")

    # ------------------------------------------------------------- lifecycle

    @property
    def closed(self) -> bool:
        return self._closed

    def remaining(self) -> float:
        """Seconds left of the sandbox's lifetime."""
        return self._remaining()

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SandboxExpired(
                f"sandbox {self.id[:12]} reached its lifetime of {self.limits.lifetime:g} s and is gone; "
                "open a new sandbox (or raise `lifetime` in its limits)"
            )
        return left

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosed(f"sandbox {self.id[:12]} is closed; open a new one")

    def _raise_if_gone(self) -> None:
        """Explain why the container is not there any more."""
        self._check_open()
        self._remaining()
        try:
            state = self._api.inspect_container(self.id)["State"]
        except docker.errors.NotFound:
            state = None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise unavailable(exc) from exc
        if state is None or not state.get("Running"):
            raise SandboxError(
                f"the container of sandbox {self.id[:12]} stopped or was removed from outside; open a new sandbox"
            )

    def _workdir(self, workdir: str | None) -> str:
        return transfer.sandbox_path(workdir, self.workdir) if workdir else self.workdir

    def close(self) -> None:
        """Kill everything in the container and remove it. Never raises; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        cleanup.unregister(self)
        if not self.id:
            return
        try:
            self._api.remove_container(self.id, force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: Docker's auto-remove is already at it
                log.warning("could not remove sandbox container %s: %s", self.id[:12], exc)
                return
            self._wait_removed()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("could not remove sandbox container %s (a later start reaps it): %s", self.id[:12], exc)

    def _wait_removed(self) -> None:
        give_up = time.monotonic() + _REMOVE_WAIT_S
        while time.monotonic() < give_up:
            try:
                self._api.inspect_container(self.id)
            except docker.errors.NotFound:
                return
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                return
            time.sleep(0.05)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<DockerSandbox {self.id[:12]} {self.image} {state}>"


def _user(name: str) -> str:
    """The uid:gid of a sandbox user name."""
    try:
        return USERS[name]
    except KeyError:
        raise SandboxError(f"unknown sandbox user {name!r}: use one of {', '.join(USERS)}") from None


def _check_env(env: Mapping[str, str]) -> dict[str, str]:
    clean = {}
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in str(value):
            raise SandboxError(f"environment variable name {key!r} is not valid; use letters, digits and _")
        clean[key] = str(value)
    return clean


def _socket_mount(path: Path) -> Mount:
    """A read-only bind mount of one Unix socket (connecting needs no write access to the mount)."""
    if not path.is_absolute():
        raise SocketMountError(f"socket path {path} must be absolute")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SocketMountError(f"socket {path} does not exist; start the LLM gateway first") from None
    if not stat.S_ISSOCK(mode):
        raise SocketMountError(f"{path} is not a Unix socket; give the gateway's socket path")
    return Mount(target=LLM_SOCKET_PATH, source=str(path), type="bind", read_only=True)


def _read_error(path: str, absolute: str, tar_messages: str) -> SandboxError:
    if "No such file" in tar_messages:
        return SandboxFileNotFound(f"{absolute} does not exist in the sandbox; check the path")
    if "Permission denied" in tar_messages:
        return SandboxError(f"{absolute} in the sandbox is not readable by the sandbox user")
    detail = _one_line(tar_messages) or "tar gave no output"
    return SandboxError(f"reading {path!r} from the sandbox failed: {detail}")


def _one_line(text: str) -> str:
    """tar's messages as one line (the CLI shows errors as one line), without its closing summary."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and "Exiting with failure" not in line]
    return " | ".join(lines)[:500]
