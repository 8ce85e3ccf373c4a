"""Make the base image's root file system from Debian packages, with no registry.

debootstrap fetches .deb files from a Debian mirror over plain HTTP, which
is reachable where container registries are not. The tree it makes is
pruned, scrubbed of the host's identity (debootstrap copies the host's
resolv.conf and hostname) and packed into a tarball that `docker import`
turns into an image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sandbox import recipe
from sandbox.errors import ImageBuildError

Progress = Callable[[str, str], None]

DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "CLADE_DEBIAN_MIRROR"


def find_mirror() -> str:
    """The Debian mirror to fetch from.

    ``CLADE_DEBIAN_MIRROR`` wins; else the first mirror that apt on this
    host already uses for the main archive (so a site's proxy or snapshot
    mirror is honoured); else deb.debian.org.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for uri in _apt_uris():
        if "security" not in uri and "debian" in uri and uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _apt_uris() -> list[str]:
    """URIs of this host's apt sources for the recipe's suite (deb822 and one-line files)."""
    uris: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", _read(path)):
            if re.search(rf"^Suites:.*\b{recipe.SUITE}\b", stanza, re.M):
                for line in re.findall(r"^URIs:(.*)$", stanza, re.M):
                    uris += line.split()
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        uris += re.findall(rf"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+{recipe.SUITE}\s", _read(path), re.M)
    return uris


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _debootstrap_binary() -> str:
    found = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ImageBuildError(
            "debootstrap is not installed; install it with `sudo apt-get install debootstrap` "
            "(`make install` does it), or build from docker/Dockerfile where a registry is reachable"
        )
    return found


def debootstrap(target: Path, progress: Progress) -> None:
    """Create a minimal Debian root file system with the recipe's packages at ``target``."""
    binary = _debootstrap_binary()
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the base image runs debootstrap, which needs root: run `sudo clade sandbox build` "
            "(or build from docker/Dockerfile where a registry is reachable, see docker/README.md)"
        )
    mirror = find_mirror()
    cmd = [
        binary,
        f"--variant={recipe.VARIANT}",
        f"--arch={recipe.debian_arch()}",
        f"--include={','.join(recipe.DEBIAN_PACKAGES)}",
        recipe.SUITE,
        str(target),
        mirror,
    ]
    progress("debootstrap", f"debootstrap {recipe.SUITE} from {mirror}")
    tail: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        progress("debootstrap", line)
    if proc.wait() != 0:
        raise ImageBuildError(
            f"debootstrap failed (exit {proc.returncode}) fetching from {mirror}; check that the mirror "
            f"is reachable or set {MIRROR_ENV}. Last output: " + " | ".join(tail[-5:])
        )


def prune(root: Path) -> None:
    """Drop caches and docs, and the host identity debootstrap copied in."""
    for rel in recipe.BASE_PRUNE:
        directory = root / rel
        if directory.is_dir():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hostname").write_text("sandbox\n")


def pack(root: Path, tarball: Path) -> None:
    """Write the tree as a tarball with numeric owners (names mean nothing outside it)."""
    partial = tarball.with_suffix(".partial")
    result = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ImageBuildError(f"packing the root file system failed: {result.stderr.strip()[-400:]}")
    partial.rename(tarball)
