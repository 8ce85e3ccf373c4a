"""What goes into the sandbox images, and the tags that name a recipe.

The tags carry a hash of everything below, so that changing a package, a
pinned wheel or the Dockerfile text yields a new tag (and a rebuild), while
an unchanged recipe is found already built. The Debian mirror is *not* part
of the hash: two mirrors of the same suite should give the same image.

`docker/Dockerfile` (the path for machines with a registry) must install the
same wheels and lay out the same user and directories; a test keeps the two
in step.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass

# Bump when the meaning of the recipe changes in a way the texts below do not show.
RECIPE_VERSION = "1"

SUITE = "bookworm"
VARIANT = "minbase"
DEBIAN_PACKAGES: tuple[str, ...] = (
    "python3",
    "python3-venv",
    "git",
    "patch",
    "ca-certificates",
    "build-essential",
    "procps",
)

# The python3 of the suite above; the wheels are chosen for it.
PYTHON_VERSION = "3.11"

# Python test tools for /opt/venv, with their whole dependency closure pinned
# so that the hash really describes what gets installed (pip downloads with
# --no-deps). All pure-Python wheels.
WHEELS: tuple[str, ...] = (
    "pytest==9.2.0",
    "pluggy==1.7.0",
    "iniconfig==2.3.1",
    "packaging==26.3",
    "pygments==2.21.0",
    "pytest-timeout==2.4.0",
    "pytest-json-report==1.5.0",
    "pytest-metadata==3.1.1",
)

SANDBOX_UID = 1000
SANDBOX_USER = "agent"
# The grader's uid in a grading sandbox: it owns the repository, the tests and
# the harness, so that code under test (run as SANDBOX_UID) can read but not
# change them. No passwd entry is needed, so any task image works.
GRADER_UID = 1001
HOME = "/home/agent"
WORKSPACE = "/workspace"
VENV = "/opt/venv"
SOCKET_DIR = "/run/clade"
LLM_SOCKET_PATH = f"{SOCKET_DIR}/llm.sock"  # where the gateway's socket appears inside a sandbox
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASE_REPOSITORY = "clade-sandbox-base"
RUNTIME_REPOSITORY = "clade-sandbox"
IMAGE_ENV = "CLADE_SANDBOX_IMAGE"

# Removed from the debootstrapped tree before it is imported: package caches
# and documentation, which nothing in a sandbox reads.
BASE_PRUNE: tuple[str, ...] = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
)

# Run inside the runtime build (offline: the wheels come from the build
# context). docker/Dockerfile runs the same steps after an apt-get, with the
# same wheels from PyPI.
SETUP_STEPS: tuple[str, ...] = (
    f"python3 -m venv {VENV}",
    # By name from --find-links (not by file), so `pip freeze` shows plain pins.
    f"{VENV}/bin/pip install --no-index --find-links /tmp/clade-wheels --no-cache-dir --disable-pip-version-check "
    + " ".join(WHEELS),
    "rm -rf /tmp/clade-wheels",
    f"groupadd --gid {SANDBOX_UID} {SANDBOX_USER}",
    f"useradd --uid {SANDBOX_UID} --gid {SANDBOX_UID} --home-dir {HOME} --create-home --shell /bin/bash {SANDBOX_USER}",
    f"mkdir -p {WORKSPACE} {SOCKET_DIR}",
    f"chown {SANDBOX_UID}:{SANDBOX_UID} {WORKSPACE}",
    # No set-uid programs: with no-new-privileges they could not elevate
    # anyway, but an image used elsewhere should not offer them either.
    "find / -xdev -perm /6000 -type f -exec chmod a-s {} +",
)


def _runtime_dockerfile(base_tag: str) -> str:
    run = " \\\n    && ".join(SETUP_STEPS)
    return (
        f"FROM {base_tag}\n"
        "COPY wheels/ /tmp/clade-wheels/\n"
        f"RUN {run}\n"
        f"ENV PATH={PATH} LANG=C.UTF-8 HOME={HOME}\n"
        f"WORKDIR {WORKSPACE}\n"
        f"USER {SANDBOX_UID}:{SANDBOX_UID}\n"
    )


def debian_arch() -> str:
    """Debian's name for this machine's architecture (the image is built for it)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Recipe:
    """The two image tags and the texts that define them."""

    base_hash: str
    runtime_hash: str

    @property
    def base_tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.base_hash}"

    @property
    def runtime_tag(self) -> str:
        return f"{RUNTIME_REPOSITORY}:{self.runtime_hash}"

    @property
    def dockerfile(self) -> str:
        return _runtime_dockerfile(self.base_tag)


def current_recipe() -> Recipe:
    """The recipe this version of Clade builds."""
    base = _digest(
        RECIPE_VERSION, SUITE, VARIANT, debian_arch(), ",".join(DEBIAN_PACKAGES), ",".join(BASE_PRUNE)
    )
    runtime = _digest(base, _runtime_dockerfile(f"{BASE_REPOSITORY}:{base}"), ",".join(WHEELS))
    return Recipe(base_hash=base, runtime_hash=runtime)


def runtime_image_tag() -> str:
    """The image sandboxes run by default.

    ``CLADE_SANDBOX_IMAGE`` overrides it (e.g. an image built from
    docker/Dockerfile on a machine with a registry); otherwise it is the
    tag of the current recipe, which `clade sandbox build` produces.
    """
    return os.environ.get(IMAGE_ENV) or current_recipe().runtime_tag
