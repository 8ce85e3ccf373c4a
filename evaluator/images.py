"""Is every image the tasks run in present in the local Docker engine?

Checked before any work starts (the CLI) and before each task (the
runner), so that a missing image is one clear message saying how to get
it, not a Docker error halfway through a run.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from typing import IO, Any

from evaluator.errors import ImageUnavailable
from evaluator.task import Task


def require_images(tasks: list[Task]) -> None:
    """Raise ImageUnavailable saying how to get the task images missing from the local engine."""
    from sandbox.image import image_exists

    missing = sorted({t.image for t in tasks if t.image and not image_exists(t.image)})
    if not missing:
        return
    from evaluator.polyglot_image import REPOSITORY as POLYGLOT

    toolchain = [tag for tag in missing if tag.startswith(f"{POLYGLOT}:")]
    if toolchain:
        raise ImageUnavailable(
            f"the Polyglot toolchain image {toolchain[0]} is not built: run `python -m evaluator.polyglot_image "
            "build --languages go,rust,cpp` (and set CLADE_POLYGLOT_IMAGE to the tag it prints if you chose "
            "other languages), or evaluate only the Python exercises (--subset python)"
        )
    shown = " ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
    raise ImageUnavailable(
        f"{len(missing)} task image(s) are not in the local Docker engine ({shown}); "
        "where a registry is reachable run `docker pull IMAGE` (or `swebench images build TASK_REPO -i ID`), "
        "then `docker save IMAGE | gzip > image.tar.gz`, copy the file here and `docker load -i image.tar.gz`"
    )


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    """One file of a build context, from memory."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def docker_build(client: Any, context: IO[bytes], tag: str, say: Callable[[str], None], needs: str,
                 network: str | None = None) -> None:
    """`docker build` of an image Clade derives from its sandbox image (a tar context), each output
    line to `say`; ImageUnavailable naming `needs` (what the build must reach) when it fails."""
    import docker.errors

    try:
        for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                      decode=True, pull=False, network_mode=network):
            if "error" in chunk:
                raise ImageUnavailable(f"building {tag} failed: {str(chunk['error']).strip()}; {needs}")
            if chunk.get("stream", "").strip():
                say(chunk["stream"].rstrip())
    except docker.errors.APIError as exc:
        raise ImageUnavailable(f"building {tag} failed: {exc.explanation or exc}") from exc
