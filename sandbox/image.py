"""Build the sandbox images offline, once per recipe.

Two images, so that the slow part is rarely redone:

* ``clade-sandbox-base:<hash>``: debootstrap's minimal Debian with python3,
  git, patch and a compiler, imported from a tarball (no registry);
* ``clade-sandbox:<hash>``: the base plus a venv of test tools installed
  from wheels downloaded on the host, the non-root user and /workspace,
  built from a generated Dockerfile with the network disabled.

An unchanged recipe is not rebuilt. Downloads are cached under
``$CLADE_HOME/cache/sandbox`` (``~/.clade`` by default), so that a deleted
image is re-imported in seconds rather than re-bootstrapped. Concurrent
builders (two test sessions, say) take turns on a file lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker.errors

import docker
from sandbox import debian, recipe, wheels
from sandbox.client import get_client
from sandbox.debian import Progress
from sandbox.errors import ImageBuildError, ImageMissing

LABEL_RECIPE = "org.clade.sandbox.recipe"


def _quiet(stage: str, message: str) -> None:
    """Default progress sink: builds from library code say nothing."""


def clade_home() -> Path:
    """``$CLADE_HOME`` or ``~/.clade``, where Clade keeps state and caches."""
    return Path(os.environ.get("CLADE_HOME") or Path.home() / ".clade").expanduser()


def cache_dir() -> Path:
    """Where downloads for the sandbox images are cached."""
    return clade_home() / "cache" / "sandbox"


def image_exists(tag: str, client: docker.DockerClient | None = None) -> bool:
    """True when the local engine has an image called ``tag``."""
    client = client or get_client()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def missing_image_error(tag: str) -> ImageMissing:
    """The error for a sandbox image that is not built, naming the way to build it."""
    if os.environ.get(recipe.IMAGE_ENV) == tag:
        return ImageMissing(
            f"sandbox image {tag} (from {recipe.IMAGE_ENV}) is not in the local Docker engine; "
            f"build it from docker/Dockerfile (see docker/README.md) or unset {recipe.IMAGE_ENV} "
            "and run `clade sandbox build`"
        )
    return ImageMissing(f"sandbox image {tag} is not built; run `clade sandbox build`")


def require_image(tag: str | None = None, client: docker.DockerClient | None = None) -> str:
    """Return ``tag`` (default: the runtime image) or raise `ImageMissing`."""
    tag = tag or recipe.runtime_image_tag()
    if not image_exists(tag, client):
        raise missing_image_error(tag)
    return tag


@contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(*, force: bool = False, progress: Progress = _quiet) -> str:
    """Build (or find) the base and runtime images of the current recipe; return the runtime tag.

    ``force`` rebuilds both images and downloads everything again.
    Raises `ImageBuildError` with the cause and the fix when a step fails.
    """
    client = get_client()
    spec = recipe.current_recipe()
    if not force and image_exists(spec.runtime_tag, client):
        progress("done", f"{spec.runtime_tag} is up to date")
        return spec.runtime_tag
    cache = cache_dir()
    with _build_lock(cache):
        if not force and image_exists(spec.runtime_tag, client):  # built while we waited
            progress("done", f"{spec.runtime_tag} is up to date")
            return spec.runtime_tag
        replaced = [_image_id(client, tag) for tag in (spec.runtime_tag, spec.base_tag)]
        if force or not image_exists(spec.base_tag, client):
            _build_base(client, spec, cache, force=force, progress=progress)
        else:
            progress("base", f"{spec.base_tag} is up to date")
        wheel_files = wheels.download(cache / f"wheels-{spec.runtime_hash}", progress, force=force)
        _build_runtime(client, spec, wheel_files, progress)
        _remove_replaced(client, [i for i in replaced if i])
    progress("done", f"built {spec.runtime_tag}")
    return spec.runtime_tag


def _image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _remove_replaced(client: docker.DockerClient, image_ids: list[str]) -> None:
    """Drop the images a forced rebuild replaced, unless a container still uses them."""
    for image_id in image_ids:
        try:
            if not client.images.get(image_id).tags:
                client.images.remove(image_id, noprune=False)
        except docker.errors.APIError:
            pass  # still in use, or already gone


def _build_base(
    client: docker.DockerClient, spec: recipe.Recipe, cache: Path, *, force: bool, progress: Progress
) -> None:
    tarball = cache / f"base-{spec.base_hash}.tar"
    if force:
        tarball.unlink(missing_ok=True)
    if not tarball.exists():
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache))
        try:
            started = time.monotonic()
            debian.debootstrap(work / "rootfs", progress)
            progress("debootstrap", f"root file system ready in {time.monotonic() - started:.0f} s")
            debian.prune(work / "rootfs")
            progress("pack", f"packing {tarball.name}")
            debian.pack(work / "rootfs", tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        progress("base", f"using cached root file system {tarball}")
    progress("import", f"docker import → {spec.base_tag}")
    changes = [
        f"ENV PATH={recipe.PATH} LANG=C.UTF-8",
        f"LABEL {LABEL_RECIPE}={spec.base_hash}",
        'CMD ["/bin/bash"]',
    ]
    try:
        answer = client.api.import_image(
            src=str(tarball), repository=recipe.BASE_REPOSITORY, tag=spec.base_hash, changes=changes
        )
    except docker.errors.APIError as exc:
        raise ImageBuildError(
            f"docker import of {tarball} failed: {exc.explanation or exc}; "
            "delete the tarball and run `clade sandbox build --force`"
        ) from exc
    for line in str(answer).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            raise ImageBuildError(
                f"docker import of {tarball} failed: {message['error']}; "
                "run `clade sandbox build --force` to make it again"
            )


def _build_runtime(
    client: docker.DockerClient, spec: recipe.Recipe, wheel_files: list[Path], progress: Progress
) -> None:
    progress("runtime", f"docker build → {spec.runtime_tag} (no network)")
    with tempfile.TemporaryDirectory(prefix="clade-sandbox-ctx-") as ctx:
        context = Path(ctx)
        (context / "wheels").mkdir()
        for wheel in wheel_files:
            shutil.copy2(wheel, context / "wheels" / wheel.name)
        (context / "Dockerfile").write_text(spec.dockerfile)
        tail: list[str] = []
        try:
            for chunk in client.api.build(
                path=str(context),
                tag=spec.runtime_tag,
                network_mode="none",
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                labels={LABEL_RECIPE: spec.runtime_hash},
            ):
                if "error" in chunk:
                    raise ImageBuildError(
                        f"building {spec.runtime_tag} failed: {str(chunk['error']).strip()}; "
                        "run `clade sandbox build --force` to start from scratch. "
                        "Last output: " + " | ".join(tail[-5:])
                    )
                for line in str(chunk.get("stream", "")).splitlines():
                    if line.strip():
                        tail = (tail + [line.strip()])[-20:]
                        progress("runtime", line.strip())
        except docker.errors.APIError as exc:
            raise ImageBuildError(f"building {spec.runtime_tag} failed: {exc.explanation or exc}") from exc
    if not image_exists(spec.runtime_tag, client):
        raise ImageBuildError(f"docker build finished but {spec.runtime_tag} is missing; run it again with --force")
