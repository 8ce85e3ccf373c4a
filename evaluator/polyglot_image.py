"""The image Polyglot's non-Python exercises run in: Clade's sandbox image plus toolchains.

Python exercises run in Clade's base sandbox image (python3 and pytest are
there). The other languages need their toolchain, which is opt-in because
it is large: build it once with

    python -m evaluator.polyglot_image build [--languages go,rust,cpp,javascript,java]

It is a `docker build` FROM the sandbox's runtime image that installs
Debian packages (so, unlike the base image, it needs a Debian mirror
reachable from Docker's default network), adds the few files of `FILES`,
then drops back to the sandbox user. The tag carries a hash of the base
image, the packages and those files, so a new sandbox recipe, language list
or file yields a new image.

Nothing is downloaded at grading time: JavaScript runs on Debian's Jest and
Babel instead of each exercise's `npm install` (the exercises' Babel preset,
`@exercism/babel-preset-javascript`, is a file here: Babel's `preset-env`
for the running Node), Java on Debian's JDK, JUnit 5 and AssertJ jars
instead of the Gradle wrapper's download (see `evaluator.languages`).
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
    # jest ships babel-jest, jest-circus, jest-environment-node; node-babel7 ships @babel/core and preset-env
    "javascript": ("nodejs", "jest", "node-babel7"),
    # junit5 ships junit-platform-console-standalone.jar; libandroid-json-org-java, org.json (rest-api's)
    "java": ("default-jdk-headless", "junit5", "libassertj-core-java", "libandroid-json-org-java"),
}
_PRESET = "/usr/share/nodejs/@exercism/babel-preset-javascript"
# Files put in the image, by language: path -> text.
FILES: dict[str, dict[str, str]] = {
    "javascript": {
        f"{_PRESET}/package.json": '{"name": "@exercism/babel-preset-javascript", "version": "0.2.1", '
                                   '"main": "index.js", "description": "Clade: preset-env for the running Node"}\n',
        f"{_PRESET}/index.js": ("module.exports = function () {\n"
                                "  return {\n"
                                "    presets: [[require('@babel/preset-env'), { targets: { node: 'current' } }]],\n"
                                "    plugins: [],\n"
                                "  };\n"
                                "};\n"),
    },
}
DEFAULT_LANGUAGES = ("cpp", "go", "java", "javascript", "rust")


def _base_image(base: str | None) -> str:
    from sandbox.recipe import runtime_image_tag

    return base or runtime_image_tag()


def packages(languages: tuple[str, ...]) -> list[str]:
    unknown = [lang for lang in languages if lang not in PACKAGES]
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    return sorted({pkg for lang in languages for pkg in PACKAGES[lang]})


def files(languages: tuple[str, ...]) -> dict[str, str]:
    return {path: text for lang in sorted(set(languages)) for path, text in FILES.get(lang, {}).items()}


def image_tag(languages: tuple[str, ...] = DEFAULT_LANGUAGES, base: str | None = None) -> str:
    recipe = f"{_base_image(base)}\0{','.join(packages(languages))}"
    extra = files(languages)
    if extra:  # (a language set without files keeps the tag it always had)
        recipe += "\0" + "\0".join(f"{path}\0{text}" for path, text in sorted(extra.items()))
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def dockerfile(languages: tuple[str, ...], base: str | None = None) -> str:
    from sandbox import recipe

    install = " ".join(packages(languages)) or "ca-certificates"
    return (
        f"FROM {_base_image(base)}\n"
        "USER root\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        f"{install} && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb\n"
        + ("COPY files/ /\n" if files(languages) else "")
        + f"USER {recipe.SANDBOX_UID}:{recipe.SANDBOX_UID}\n"
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
        for name, text in {"Dockerfile": dockerfile(languages, base),
                           **{f"files{path}": text for path, text in files(languages).items()}}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
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
