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
instead of the Gradle wrapper's download (see `evaluator.languages`), Rust's
crates from a directory source in the image: the crates of
`polyglot_crates.lock` (resolved from `polyglot_crates.toml`, the crates the
benchmark's exercises ask for) are downloaded on the host from crates.io,
checked against the lock's checksums, cached under
`$CLADE_HOME/cache/polyglot-crates`, and sent in the build context; a cargo
config at `/.cargo/config.toml` (read by every cargo run, whatever its
CARGO_HOME) replaces crates.io with them. The lock is part of the tag.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from evaluator.errors import ImageUnavailable
from evaluator.images import add_bytes, docker_build

REPOSITORY = "clade-polyglot"
PACKAGES: dict[str, tuple[str, ...]] = {
    "python": (),
    "go": ("golang-go",),
    "rust": ("cargo", "rustc"),
    # g++ and make come with build-essential in the base image; gigasecond and meetup find Boost's date_time
    "cpp": ("cmake", "libboost-date-time-dev"),
    # jest ships babel-jest, jest-circus, jest-environment-node; node-babel7 ships @babel/core and preset-env
    "javascript": ("nodejs", "jest", "node-babel7"),
    # junit5 ships junit-platform-console-standalone.jar; libandroid-json-org-java, org.json (rest-api's)
    "java": ("default-jdk-headless", "junit5", "libassertj-core-java", "libandroid-json-org-java"),
}
_PRESET = "/usr/share/nodejs/@exercism/babel-preset-javascript"
CRATES_DIR = "/usr/share/clade-crates"  # cargo's directory source: one folder per vendored crate
CARGO_CONFIG = "/.cargo/config.toml"  # an ancestor of every working directory, so every cargo run reads it
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
    "rust": {
        CARGO_CONFIG: ("# Clade: crates.io is replaced by the crates vendored in this image (evaluator/polyglot_crates.toml)\n"
                       "[source.crates-io]\n"
                       'replace-with = "clade-vendored"\n\n'
                       "[source.clade-vendored]\n"
                       f'directory = "{CRATES_DIR}"\n\n'
                       "[net]\n"
                       "offline = true\n"),
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


# -- Rust's crates ---------------------------------------------------------------------------------------------------

CRATE_LIST = Path(__file__).with_name("polyglot_crates.toml")  # what the exercises ask for (edited by hand)
CRATE_LOCK = Path(__file__).with_name("polyglot_crates.lock")  # what the image holds (`lock-crates` writes it)
CRATES_URL = "https://static.crates.io/crates/{name}/{name}-{version}.crate"
# Bump when the layout of a vendored crate changes in a way the lock does not show.
VENDOR_FORMAT = "1"
_STUB_KEEP = ("Cargo.toml", "build.rs")  # what a stub keeps of its crate (beside an empty src/lib.rs)
_LOCK_HEADER = ("# Generated by `python -m evaluator.polyglot_image lock-crates` from polyglot_crates.toml (cargo's\n"
                "# Cargo.lock of a crate depending on them all): the crates the toolchain image vendors. Do not edit.\n")


@dataclass(frozen=True, order=True)
class Crate:
    """One crates.io package of the lock, as the image vendors it."""

    name: str
    version: str
    checksum: str  # sha256 of the .crate file, as crates.io's index records it
    stub: bool = False  # never built on Linux: only its manifest (cargo still resolves it)

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


def crate_spec() -> dict:
    """polyglot_crates.toml: `rust-version`, `[dependencies]`, `[pin]`, `[stub]`."""
    return tomllib.loads(CRATE_LIST.read_text())


def crates(languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> list[Crate]:
    """The crates vendored for these languages (none without Rust), from polyglot_crates.lock."""
    if "rust" not in languages:
        return []
    stubs = set(crate_spec().get("stub", {}).get("crates", []))
    lock = tomllib.loads(CRATE_LOCK.read_text())
    return sorted(Crate(p["name"], p["version"], p["checksum"], p["name"] in stubs)
                  for p in lock.get("package", []) if "checksum" in p)


def _recipe_crates(languages: tuple[str, ...]) -> str:
    listed = crates(languages)
    if not listed:
        return ""
    return f"\0crates:{VENDOR_FORMAT}\0" + "\0".join(f"{c.folder}:{c.checksum}:{'stub' if c.stub else 'all'}"
                                                     for c in listed)


def crate_cache() -> Path:
    """Where downloaded .crate files are kept (shared by every recipe: a file is named by its version)."""
    from sandbox.image import clade_home

    return clade_home() / "cache" / "polyglot-crates"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_crate(crate: Crate, cache: Path) -> bytes:
    """The .crate file, from the cache or crates.io, checked against the lock's checksum."""
    path = cache / f"{crate.folder}.crate"
    if path.is_file():
        data = path.read_bytes()
        if _sha256(data) == crate.checksum:
            return data
    url = CRATES_URL.format(name=crate.name, version=crate.version)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except OSError as exc:
        raise ImageUnavailable(f"downloading {url} failed ({exc}); the Rust crates come from crates.io on this "
                               f"host: make https://static.crates.io reachable, or copy {crate.folder}.crate "
                               f"into {cache}") from exc
    if _sha256(data) != crate.checksum:
        raise ImageUnavailable(f"{url} does not have the checksum {CRATE_LOCK.name} records for {crate.folder}; "
                               "re-run `python -m evaluator.polyglot_image lock-crates` if the lock is stale")
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)
    return data


def _crate_files(crate: Crate, archive: bytes) -> Iterator[tuple[str, bytes, int]]:
    """(path inside the crate's folder, content, mode) of a vendored crate, with cargo's checksum file.
    `.cargo-checksum.json` lists no files: cargo then checks none of them, only the package's sum."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as src:
        for member in src.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 2 or parts[0] != crate.folder or ".." in parts:
                continue
            rel = "/".join(parts[1:])
            if crate.stub and rel not in _STUB_KEEP:
                continue
            yield rel, src.extractfile(member).read(), 0o755 if member.mode & 0o111 else 0o644
    if crate.stub:
        yield "src/lib.rs", b"", 0o644
    yield ".cargo-checksum.json", json.dumps({"files": {}, "package": crate.checksum}).encode(), 0o644


def vendored_files(languages: tuple[str, ...], cache: Path | None = None,
                   progress: Callable[[str], None] = lambda line: None) -> Iterator[tuple[str, bytes, int]]:
    """(absolute path in the image, content, mode) of every vendored crate's files."""
    listed = crates(languages)
    if listed:
        progress(f"{len(listed)} Rust crates from {CRATE_LOCK.name} ({sum(c.stub for c in listed)} as stubs)")
    for crate in listed:
        for rel, data, mode in _crate_files(crate, fetch_crate(crate, cache or crate_cache())):
            yield f"{CRATES_DIR}/{crate.folder}/{rel}", data, mode


def lock_crates(cargo: str = "cargo") -> Path:
    """Resolve polyglot_crates.toml into polyglot_crates.lock with the host's cargo: a scratch crate
    depending on every listed crate, the newest versions whose `rust-version` the image's rustc meets
    (cargo's MSRV-aware resolver, cargo >= 1.84), then the `[pin]`s. Needs crates.io's index."""
    from evaluator.languages.rust import toml_value

    spec = crate_spec()
    manifest = ('[package]\nname = "clade-polyglot-crates"\nversion = "0.0.0"\nedition = "2021"\n'
                f'rust-version = {toml_value(spec["rust-version"])}\npublish = false\n\n[dependencies]\n'
                + "".join(f"{name} = {toml_value(value)}\n" for name, value in spec["dependencies"].items()))
    env = {**os.environ, "CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS": "fallback"}
    with tempfile.TemporaryDirectory(prefix="clade-crates-") as tmp:
        (Path(tmp) / "src").mkdir()
        (Path(tmp) / "src" / "lib.rs").write_text("")
        (Path(tmp) / "Cargo.toml").write_text(manifest)
        steps = [[cargo, "generate-lockfile"]] + [[cargo, "update", "-p", name, "--precise", version]
                                                  for name, version in spec.get("pin", {}).items()]
        for step in steps:
            try:
                done = subprocess.run(step, cwd=tmp, env=env, capture_output=True, text=True)
            except FileNotFoundError:
                raise ImageUnavailable(f"{cargo} is not installed: `lock-crates` needs cargo >= 1.84 "
                                       "(rustup.rs) and crates.io") from None
            if done.returncode != 0:
                raise ImageUnavailable(f"`{' '.join(step)}` failed: {done.stderr.strip()[-2000:]}")
        text = (Path(tmp) / "Cargo.lock").read_text()
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    CRATE_LOCK.write_text(_LOCK_HEADER + body)
    return CRATE_LOCK


# -- the image -------------------------------------------------------------------------------------------------------

def image_tag(languages: tuple[str, ...] = DEFAULT_LANGUAGES, base: str | None = None) -> str:
    recipe = f"{_base_image(base)}\0{','.join(packages(languages))}"
    extra = files(languages)
    if extra:  # (a language set without files keeps the tag it always had)
        recipe += "\0" + "\0".join(f"{path}\0{text}" for path, text in sorted(extra.items()))
    recipe += _recipe_crates(languages)
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


def build_context(languages: tuple[str, ...], base: str | None = None,
                  progress: Callable[[str], None] = lambda line: None) -> io.BytesIO:
    """The build context: the Dockerfile, then under files/ what COPY puts in the image (crates included)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        add_bytes(tar, "Dockerfile", dockerfile(languages, base).encode())
        for path, text in files(languages).items():
            add_bytes(tar, f"files{path}", text.encode())
        for path, data, mode in vendored_files(languages, progress=progress):
            add_bytes(tar, f"files{path}", data, mode)
    context.seek(0)
    return context


def build(languages: tuple[str, ...] = DEFAULT_LANGUAGES, base: str | None = None, *, quiet: bool = True) -> str:
    """Build (or find) the polyglot image for these languages; return its tag."""
    from sandbox.client import get_client
    from sandbox.image import image_exists

    tag = image_tag(languages, base)
    client = get_client()
    if image_exists(tag, client):
        return tag
    if not image_exists(_base_image(base), client):
        raise ImageUnavailable(f"the sandbox image {_base_image(base)} is not built: run `clade sandbox build` first")

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr)

    docker_build(client, build_context(languages, base, progress=say), tag, say,
                 "a Debian mirror must be reachable from Docker's default network")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator.polyglot_image", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "tag", "dockerfile", "lock-crates"],
                        help="lock-crates: re-resolve polyglot_crates.lock after editing polyglot_crates.toml")
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES),
                        help=f"comma-separated, of {', '.join(PACKAGES)} (default: {','.join(DEFAULT_LANGUAGES)})")
    args = parser.parse_args(argv)
    languages = tuple(sorted(p.strip() for p in args.languages.split(",") if p.strip()))
    if args.command == "dockerfile":
        print(dockerfile(languages), end="")
    elif args.command == "tag":
        print(image_tag(languages))
    elif args.command == "lock-crates":
        path = lock_crates()
        print(f"{path}: {len(crates(('rust',)))} crates; the image tag is now {image_tag(languages)}")
    else:
        print(build(languages, quiet=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
