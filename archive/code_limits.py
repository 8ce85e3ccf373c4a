"""What a node's code may be: checked at the door, when a child's patch is applied.

An agent wrote the patch, so it is untrusted input: a symlink to an
absolute path would pass `git apply` and break every later unpacking of
the node (export, evaluation, `clade node diff`), and a 6 MB binary patch
can inflate to 1 GiB that every evaluation then writes to the host's
disk. So the tree a patch produces is checked before it is stored — by
the worker before it validates the child, and by the code store before it
commits — and a child that breaks a limit is refused with the reason,
never stored.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from archive.errors import PatchDoesNotApply


class UnsafeCode(PatchDoesNotApply):
    """A child's code breaks a limit (a link leaving the tree, too large, binary, ...)."""


class CodeLimits(BaseModel):
    """Bounds on a node's whole code tree (the run configuration's `code`)."""

    model_config = ConfigDict(extra="forbid")

    max_total_bytes: int = Field(32 * 2**20, gt=0, le=2**31, description="all files together")
    max_file_bytes: int = Field(4 * 2**20, gt=0, le=2**31, description="the largest one file")
    max_files: int = Field(5_000, gt=0, le=1_000_000)
    allow_binary: bool = Field(False, description="files holding NUL bytes (an agent's code is text)")


@dataclass(frozen=True)
class Entry:
    """One path of a code tree, as git or the file system sees it."""

    path: str  # relative, '/'-separated
    kind: str  # "file", "link" or "other" (a submodule, a device, ...)
    size: int = 0
    link_target: str | None = None
    binary: bool = False


def problem(entries: Iterable[Entry], limits: CodeLimits) -> str | None:
    """Why this tree may not be a node's code, or None when it may."""
    total = files = 0
    for entry in entries:
        files += 1
        if entry.kind == "other":
            return f"{entry.path} is neither a file nor a link (a submodule or a special file)"
        if entry.kind == "link":
            target = entry.link_target or ""
            if target.startswith("/") or _leaves_tree(entry.path, target):
                return f"{entry.path} is a link to {target!r}, outside the agent's code"
            continue
        total += entry.size
        if entry.size > limits.max_file_bytes:
            return f"{entry.path} holds {entry.size} bytes, more than the {limits.max_file_bytes} one file may"
        if entry.binary and not limits.allow_binary:
            return f"{entry.path} is binary (holds NUL bytes); an agent's code is text (code.allow_binary)"
        if total > limits.max_total_bytes:
            return f"the code holds more than {limits.max_total_bytes} bytes in all"
        if files > limits.max_files:
            return f"the code holds more than {limits.max_files} files"
    return None


def _leaves_tree(path: str, target: str) -> bool:
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return joined == ".." or joined.startswith("../")


def folder_entries(root: Path) -> Iterable[Entry]:
    """The entries of a folder on disk (links are not followed); reads at most a
    bounded prefix of each file to tell binary from text."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            relative = full.relative_to(root).as_posix()
            if full.is_symlink():
                yield Entry(relative, "link", link_target=os.readlink(full))
            elif full.is_dir():
                continue
            elif full.is_file():
                size = full.stat().st_size
                with full.open("rb") as handle:
                    binary = b"\0" in handle.read(min(size, 8192))
                yield Entry(relative, "file", size, binary=binary)
            else:
                yield Entry(relative, "other")
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]


def check_folder(root: Path, limits: CodeLimits) -> None:
    """Raise UnsafeCode when the folder may not be a node's code."""
    found = problem(folder_entries(root), limits)
    if found is not None:
        raise UnsafeCode(f"the child's code is refused: {found}")
