"""Download the runtime image's Python wheels on the host.

The image build runs with no network at all; PyPI is reached from the host
by pip and the wheels travel in the build context. They are cached per
recipe so that a rebuild does not download again.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox import recipe
from sandbox.debian import Progress
from sandbox.errors import ImageBuildError

_DONE = ".complete"


def download(directory: Path, progress: Progress, *, force: bool = False) -> list[Path]:
    """Make sure ``directory`` holds every pinned wheel, downloading what is missing."""
    if force and directory.exists():
        shutil.rmtree(directory)
    if (directory / _DONE).exists():
        progress("wheels", f"{len(recipe.WHEELS)} wheels cached in {directory}")
        return sorted(directory.glob("*.whl"))
    directory.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        recipe.PYTHON_VERSION,
        "--implementation",
        "cp",
        "--platform",
        f"manylinux2014_{platform.machine()}",
        "-d",
        str(directory),
        *recipe.WHEELS,
    ]
    progress("wheels", f"pip download {len(recipe.WHEELS)} pinned wheels")
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or len(wheels) < len(recipe.WHEELS):
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ImageBuildError(
            "downloading the sandbox's Python wheels failed; PyPI (or the index in PIP_INDEX_URL) "
            "must be reachable from this host, and pip installed for " + sys.executable + ": "
            + " | ".join(detail)
        )
    (directory / _DONE).write_text("\n".join(recipe.WHEELS) + "\n")
    return wheels
