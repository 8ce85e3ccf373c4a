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
  are skipped and reported;
* what comes out is bounded twice: the sandbox-side check before the copy
  (`docker_sandbox`) refuses files over the cap and sparse files, and
  reports why in ``clade-refused`` lines that `parse_refusals` reads and
  `read_refusal` / `copy_refusal` turn into errors; the host then holds
  each member it unpacks to the same caps, in case a file changed between
  the check and the copy.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import stat
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sandbox.base import CopyReport
from sandbox.errors import (
    NotARegularFile,
    SandboxError,
    SandboxFileNotFound,
    SparseFile,
    TransferFailed,
    TransferTooLarge,
    UnsafePath,
)
from sandbox.limits import format_size

SANDBOX_UID = 1000
# A file is sparse when its holes (apparent size less allocated bytes) are
# more than this *and* more than half its size: a small hole or two (some
# tools leave them) passes, a file that is mostly holes does not.
SPARSE_SLACK = 1024 * 1024


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


def is_sparse(size: int, allocated: int) -> bool:
    """The rule the sandbox-side checks apply (kept here to document and test it)."""
    hole = size - allocated
    return hole > SPARSE_SLACK and hole > size // 2


def read_stream_bound(members: Iterable[str], each: int, total: int) -> int:
    """The most a tar of ``members`` (each at most ``each`` bytes, all at most ``total``) can take."""
    names = list(members)
    data = min(len(names) * each, total)
    # Per member: a header, a long-name header and its data, padding; then tar's end-of-archive records.
    return data + sum(2048 + 2 * len(name) for name in names) + 20480


def unpack_in_memory(
    archive: bytes | IO[bytes], wanted: Iterable[str], *, max_each: int | None = None
) -> dict[str, tarfile.TarInfo | bytes]:
    """Map each wanted absolute path to its file bytes, or to the TarInfo when it is not a regular file.

    A member larger than ``max_each`` raises `TransferTooLarge` before any
    of its data is read.
    """
    found: dict[str, tarfile.TarInfo | bytes] = {}
    wanted_names = {p.lstrip("/"): p for p in wanted}
    fileobj = io.BytesIO(archive) if isinstance(archive, (bytes, bytearray)) else archive
    with tarfile.open(fileobj=fileobj, mode="r:") as archive_file:
        for info in archive_file:
            path = wanted_names.get(info.name.rstrip("/"))
            if path is None:
                continue
            if max_each is not None and info.size > max_each:
                raise TransferTooLarge(
                    f"{path} in the sandbox came out at {human_size(info.size)}, more than the "
                    f"{format_size(max_each)} a read may copy (it grew after the check); read it again, or less"
                )
            if info.isfile() or info.islnk():  # a hard link's data is its earlier member's
                try:
                    extracted = archive_file.extractfile(info)
                except (KeyError, tarfile.TarError):
                    found[path] = info
                    continue
                found[path] = extracted.read() if extracted else b""
            else:
                found[path] = info
    return found


def human_size(n: int) -> str:
    """A size for messages: ``500 MiB``, ``1.5 GiB``, ``880 bytes``."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Refusal:
    """One ``clade-refused <index> <why> [numbers] [path]`` line of a sandbox-side check."""

    why: str  # missing, denied, failed, type, sparse, big, total, count
    numbers: tuple[int, ...] = ()
    detail: str = ""  # the mode in hex (type), or the path in the tree (copy_out)


_REFUSED = re.compile(r"^clade-refused (\d+) ([a-z]+)(?: (.*))?$")


def parse_refusals(messages: str) -> dict[int, Refusal]:
    """The refusals in a check's messages, by index (1: the first file; 0: the call as a whole)."""
    found: dict[int, Refusal] = {}
    for line in messages.splitlines():
        match = _REFUSED.match(line)
        if not match:
            continue
        index, why, rest = int(match.group(1)), match.group(2), match.group(3) or ""
        if why == "type":
            refusal = Refusal(why, detail=rest.strip())
        else:
            words = rest.split(" ")
            numbers = []
            while words and words[0].isdigit() and len(numbers) < 2:
                numbers.append(int(words.pop(0)))
            refusal = Refusal(why, tuple(numbers), " ".join(words))
        found.setdefault(index, refusal)
    return found


def _kind(mode_hex: str) -> str:
    try:
        kind = stat.S_IFMT(int(mode_hex, 16))
    except ValueError:
        return "not a regular file"
    return {stat.S_IFDIR: "a directory", stat.S_IFLNK: "a symlink", stat.S_IFIFO: "a FIFO",
            stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}.get(kind,
                                                                                            "not a regular file")


def _shown(name: str) -> str:
    """A name from inside the sandbox, safe to print on one line."""
    text = ascii(name)
    return text if len(text) <= 120 else text[:117] + "..."


def _number(refusal: Refusal, i: int) -> int:
    return refusal.numbers[i] if len(refusal.numbers) > i else 0


def read_refusal(path: str, absolute: str, refusal: Refusal, cap: int) -> SandboxError:
    """The error for a file (or, with index 0, a whole read) that the check inside refused."""
    size, allocated = _number(refusal, 0), _number(refusal, 1)
    if refusal.why == "missing":
        return SandboxFileNotFound(f"{absolute} does not exist in the sandbox; check the path")
    if refusal.why == "denied":
        return SandboxError(f"{absolute} in the sandbox is not readable by the sandbox user")
    if refusal.why == "type":
        return NotARegularFile(
            f"{absolute} in the sandbox is {_kind(refusal.detail)}, not a regular file; "
            "read the file it should contain, or use copy_out for a directory"
        )
    if refusal.why == "sparse":
        return SparseFile(
            f"{absolute} in the sandbox is a sparse file ({human_size(size)} long, {human_size(allocated)} "
            "written): refused, its holes would cost the host their full size; write the file's real content"
        )
    if refusal.why == "big":
        return TransferTooLarge(
            f"{absolute} in the sandbox is {human_size(size)}, more than the {format_size(cap)} a read may "
            "copy; read less, or pass a larger max_bytes (up to max_transfer_bytes of the sandbox limits)"
        )
    if refusal.why == "total":
        return TransferTooLarge(
            f"the files asked for hold {human_size(size)} together, more than the {format_size(cap)} one read "
            "may copy; read them in several calls, or raise max_transfer_bytes in the sandbox limits"
        )
    return SandboxError(f"reading {path!r} from the sandbox failed: the check before the copy could not stat it")


def copy_refusal(src: str, source: str, refusal: Refusal, cap: int, max_files: int) -> SandboxError:
    """The error for a `copy_out` that the check inside refused."""
    size, allocated = _number(refusal, 0), _number(refusal, 1)
    where = f" ({_shown(refusal.detail)})" if refusal.detail else ""
    if refusal.why == "missing":
        return SandboxFileNotFound(f"{source} does not exist in the sandbox; check the path")
    if refusal.why == "denied":
        return SandboxError(f"{source} in the sandbox is not readable by the sandbox user")
    if refusal.why == "sparse":
        return SparseFile(
            f"{source} in the sandbox holds a sparse file{where} ({human_size(size)} long, "
            f"{human_size(allocated)} written): refused, its holes would cost the host their full size; "
            "remove it or write its real content"
        )
    if refusal.why == "big":
        return TransferTooLarge(
            f"{source} in the sandbox holds a file of {human_size(size)}{where}, more than the "
            f"{format_size(cap)} this copy may bring out; copy less, or pass a larger max_bytes "
            "(up to max_transfer_bytes of the sandbox limits)"
        )
    if refusal.why == "total":
        return TransferTooLarge(
            f"{source} in the sandbox holds more than {format_size(cap)} of files; copy less, or pass a larger "
            "max_bytes (up to max_transfer_bytes of the sandbox limits)"
        )
    if refusal.why == "count":
        return TransferTooLarge(
            f"{source} in the sandbox holds more than {max_files} entries; copy less, or pass a larger max_files"
        )
    return SandboxError(f"copying {src!r} out of the sandbox failed: the check before the copy could not stat it")


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


def safe_extract(archive_file: IO[bytes], root_name: str, host_dir: Path, *, max_bytes: int | None = None,
                 max_files: int | None = None) -> CopyReport:
    """Recreate the regular files and directories of a tar under ``host_dir``.

    Members are named ``root_name/...`` (the copied directory) or
    ``root_name`` (a copied file, which lands as ``host_dir/root_name``).
    More than ``max_bytes`` of file data or ``max_files`` members raises
    `TransferTooLarge` before the member that would pass the cap is written
    (what came before it stays written).
    """
    host_dir.mkdir(parents=True, exist_ok=True)
    base = host_dir.resolve()
    written: list[str] = []
    skipped: list[tuple[str, str]] = []
    data = members = 0
    with tarfile.open(fileobj=archive_file, mode="r:") as archive:
        for info in archive:
            members += 1
            data += info.size if info.isfile() else 0
            if max_files is not None and members > max_files:
                raise TransferTooLarge(f"the copy out of the sandbox passed {max_files} entries (the tree grew "
                                       "after the check); copy less, or pass a larger max_files")
            if max_bytes is not None and data > max_bytes:
                raise TransferTooLarge(f"the copy out of the sandbox passed {format_size(max_bytes)} of files "
                                       "(they grew after the check); copy less, or pass a larger max_bytes")
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
            try:
                os.mkdir(current, 0o755)
            except OSError as exc:  # a name or a path too long for the host, ...
                return f"cannot create it on the host ({exc.strerror})"
            continue
        except OSError as exc:
            return f"cannot create it on the host ({exc.strerror})"
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
    try:
        with os.fdopen(fd, "wb") as handle:
            if source is not None:
                while chunk := source.read(1024 * 1024):
                    handle.write(chunk)
    except OSError as exc:  # the host's disk is full, ...: the whole copy fails, with the reason
        raise TransferFailed(f"copying {relative} out of the sandbox failed on the host ({exc.strerror}): "
                             "free space where the copy goes, then try again") from None
    return None
