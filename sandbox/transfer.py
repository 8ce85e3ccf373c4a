"""Tar streams in and out of a sandbox, safe against hostile file names.

Docker's own archive endpoints cannot write to a read-only root or see the
tmpfs mounts (they work on the container's image layers), so files travel
as tar streams through `tar` running *inside* the sandbox as its user. That
also means every path is resolved by the sandbox's kernel view, as the
sandbox user: a symlink planted inside can at worst redirect a write to
another place the sandbox could write anyway.

The host side is where care is needed:

* names going in are checked here (no ``..``, no NUL, nothing empty)
  before any tar is built, and a rejected name raises `UnsafePath`;
* archives coming out are never handed to ``tarfile.extractall``: only
  regular files and directories are recreated (a hard link as a copy of
  its target's data), each under the destination, opened with O_NOFOLLOW
  beneath parents that are real directories; symlinks, devices and FIFOs
  are skipped and reported.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from sandbox.base import CopyReport
from sandbox.errors import UnsafePath

SANDBOX_UID = 1000


def sandbox_path(path: str, workdir: str) -> str:
    """Normalise a path inside the sandbox to an absolute one, refusing escapes.

    Relative paths are taken from ``workdir``. ``..`` is refused outright
    rather than resolved: a caller that writes it is either confused or
    hostile, and either way should hear about it.
    """
    if not isinstance(path, str) or not path:
        raise UnsafePath(f"file name {path!r} is empty; give a path such as 'src/main.py'")
    if "\0" in path:
        raise UnsafePath(f"file name {path!r} contains a NUL byte; rename it")
    parts = path.split("/")
    if ".." in parts:
        raise UnsafePath(f"file name {path!r} contains '..'; give a path inside the sandbox without it")
    absolute = posixpath.normpath(posixpath.join(workdir, path))
    if absolute == "/":
        raise UnsafePath(f"file name {path!r} names the root directory; give a file path")
    return absolute


def pack_files(files: Mapping[str, bytes], mode: int) -> bytes:
    """A tar of regular files, named relative to ``/`` and owned by the sandbox user."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = mode & 0o777
            info.uid = info.gid = SANDBOX_UID
            info.mtime = now
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pack_host_path(host_path: Path, dest: str, out: IO[bytes]) -> None:
    """Write a tar of a host file or tree to ``out``, named so it extracts at ``dest``.

    Host symlinks are stored as symlinks, never followed (a tree may hold a
    link to the host's secrets; inside the sandbox it points nowhere
    useful). Devices and FIFOs are left out; set-uid bits are dropped.
    """

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
            return None
        info.uid = info.gid = SANDBOX_UID
        info.uname = info.gname = ""
        info.mode &= 0o777
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, dereference=False) as archive:
        archive.add(str(host_path), arcname=dest.lstrip("/"), recursive=True, filter=clean)


def unpack_in_memory(archive_bytes: bytes, wanted: Iterable[str]) -> dict[str, tarfile.TarInfo | bytes]:
    """Map each wanted absolute path to its file bytes, or to the TarInfo when it is not a regular file."""
    found: dict[str, tarfile.TarInfo | bytes] = {}
    wanted_names = {p.lstrip("/"): p for p in wanted}
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:") as archive:
        for info in archive:
            path = wanted_names.get(info.name.rstrip("/"))
            if path is None:
                continue
            if info.isfile() or info.islnk():  # a hard link's data is its earlier member's
                try:
                    extracted = archive.extractfile(info)
                except (KeyError, tarfile.TarError):
                    found[path] = info
                    continue
                found[path] = extracted.read() if extracted else b""
            else:
                found[path] = info
    return found


def describe(info: tarfile.TarInfo) -> str:
    """Name a tar member's type for messages."""
    if info.isdir():
        return "a directory"
    if info.issym():
        return f"a symlink (to {info.linkname!r})"
    if info.islnk():
        return "a hard link"
    if info.isfifo():
        return "a FIFO"
    if info.ischr() or info.isblk():
        return "a device"
    return "not a regular file"


def safe_extract(archive_file: IO[bytes], root_name: str, host_dir: Path) -> CopyReport:
    """Recreate the regular files and directories of a tar under ``host_dir``.

    Members are named ``root_name/...`` (the copied directory) or
    ``root_name`` (a copied file, which lands as ``host_dir/root_name``).
    """
    host_dir.mkdir(parents=True, exist_ok=True)
    base = host_dir.resolve()
    written: list[str] = []
    skipped: list[tuple[str, str]] = []
    with tarfile.open(fileobj=archive_file, mode="r:") as archive:
        for info in archive:
            name = info.name
            relative = _relative_name(name, root_name, info.isdir())
            if relative is None:
                skipped.append((name, "name outside the copied path"))
                continue
            if relative == "":
                continue  # the copied directory itself: that is host_dir
            if not (info.isfile() or info.isdir() or info.islnk()):
                skipped.append((relative, describe(info)))
                continue
            # A hard link becomes a copy of its target's data (tar only links to earlier members).
            reason = _write_member(archive, info, base, relative)
            if reason:
                skipped.append((relative, reason))
            elif not info.isdir():
                written.append(relative)
    return CopyReport(files=tuple(written), skipped=tuple(skipped))


def _relative_name(name: str, root_name: str, is_dir: bool) -> str | None:
    """The member's path below the copy's root, or None if it is unsafe or elsewhere."""
    if "\0" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or not parts or parts[0] != root_name:
        return None
    if len(parts) == 1:
        return "" if is_dir else root_name
    return "/".join(parts[1:])


def _write_member(archive: tarfile.TarFile, info: tarfile.TarInfo, base: Path, relative: str) -> str | None:
    """Create one directory or file under ``base``; return why not, or None."""
    parts = relative.split("/")
    current = base
    for part in parts if info.isdir() else parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return "a parent on the host is not a real directory"
    if info.isdir():
        return None
    target = current / parts[-1]
    # O_NONBLOCK: a FIFO planted at the target fails instead of blocking us.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    mode = 0o755 if info.mode & 0o111 else 0o644
    try:
        source = archive.extractfile(info)
    except (KeyError, tarfile.TarError):
        return "a hard link to nothing in the copy"
    try:
        fd = os.open(target, flags, mode)
    except OSError as exc:
        return f"cannot create it on the host ({exc.strerror})"
    with os.fdopen(fd, "wb") as handle:
        if source is not None:
            while chunk := source.read(1024 * 1024):
                handle.write(chunk)
    return None
