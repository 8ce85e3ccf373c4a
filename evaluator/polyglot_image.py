"""The image Polyglot's non-Python exercises run in: Clade's sandbox image plus toolchains.

Python exercises run in Clade's base sandbox image (python3 and pytest are
there). The other languages need their toolchain, which is opt-in because
it is large: build it once with

    python -m evaluator.polyglot_image build [--languages go,rust,cpp,javascript,java]

It is a `docker build` FROM the sandbox's runtime image that installs
Debian packages (so, unlike the base image, it needs a Debian mirror
reachable from Docker's default network), then drops back to the sandbox
user. The tag carries a hash of the base image and the packages, so a new
sandbox recipe or language list yields a new image. What each language
still lacks offline (Gradle's distribution for Java, node_modules for
JavaScript) is listed in `OFFLINE_GAPS` and in the README.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile

from evaluator.errors import ImageUnavailable

REPOSITORY = "clade-polyglot"
PACKAGES: dict[str, tuple[str, ...]] = {
    "python": (),
    "go": ("golang-go",),
    "rust": ("cargo", "rustc"),
    "cpp": ("cmake",),  # g++ and make come with build-essential in the base image
    "javascript": ("nodejs", "npm"),
    "java": ("default-jdk-headless",),
}
OFFLINE_GAPS = {
    "java": "the exercises' ./gradlew downloads Gradle on first use: seed ~/.gradle in the image, or run with network",
    "javascript": "npm test needs each exercise's devDependencies (jest, babel): pre-install them in the image",
}
DEFAULT_LANGUAGES = ("go", "rust", "cpp")


def _base_image(base: str | None) -> str:
    from sandbox.recipe import runtime_image_tag

    return base or runtime_image_tag()


def packages(languages: tuple[str, ...]) -> list[str]:
    unknown = [lang for lang in languages if lang not in PACKAGES]
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    return sorted({pkg for lang in languages for pkg in PACKAGES[lang]})


def image_tag(languages: tuple[str, ...] = DEFAULT_LANGUAGES, base: str | None = None) -> str:
    digest = hashlib.sha256(f"{_base_image(base)}\0{','.join(packages(languages))}".encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def dockerfile(languages: tuple[str, ...], base: str | None = None) -> str:
    from sandbox import recipe

    install = " ".join(packages(languages)) or "ca-certificates"
    return (
        f"FROM {_base_image(base)}\n"
        "USER root\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        f"{install} && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb\n"
        f"USER {recipe.SANDBOX_UID}:{recipe.SANDBOX_UID}\n"
    )


def build(languages: tuple[str, ...] = DEFAULT_LANGUAGES, base: str | None = None, *, quiet: bool = True) -> str:
    """Build (or find) the polyglot image for these languages; return its tag."""
    import docker.errors

    from sandbox.client import get_client
    from sandbox.image import image_exists

    tag = image_tag(languages, base)
    client = get_client()
    if image_exists(tag, client):
        return tag
    if not image_exists(_base_image(base), client):
        raise ImageUnavailable(f"the sandbox image {_base_image(base)} is not built: run `clade sandbox build` first")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile(languages, base).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    try:
        for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                      decode=True, pull=False):
            if "error" in chunk:
                raise ImageUnavailable(f"building {tag} failed: {str(chunk['error']).strip()}; a Debian mirror "
                                       "must be reachable from Docker's default network")
            if not quiet and chunk.get("stream", "").strip():
                print(chunk["stream"].rstrip(), file=sys.stderr)
    except docker.errors.APIError as exc:
        raise ImageUnavailable(f"building {tag} failed: {exc.explanation or exc}") from exc
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator.polyglot_image", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "tag", "dockerfile"])
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES),
                        help=f"comma-separated, of {', '.join(PACKAGES)} (default: {','.join(DEFAULT_LANGUAGES)})")
    args = parser.parse_args(argv)
    languages = tuple(sorted(p.strip() for p in args.languages.split(",") if p.strip()))
    if args.command == "dockerfile":
        print(dockerfile(languages), end="")
    elif args.command == "tag":
        print(image_tag(languages))
    else:
        print(build(languages, quiet=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
