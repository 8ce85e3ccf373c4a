"""Rust crates and C++'s Boost in the Polyglot toolchain image, offline.

The fixture checkout (tests/evaluator/fixtures/polyglot-crates) holds
exercism's gigasecond in Rust (its tests use the `time` crate, which its
Cargo.toml names) and in C++ (its CMakeLists.txt finds Boost's date_time):
neither builds without what the image now brings. Without Docker: the crate
list and its lock agree, the image's tag follows the lock, a vendored crate's
layout, and the rule for the manifest a Rust exercise's tests are built with.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from evaluator import GOLD, NOOP, EvalOptions, Outcome, evaluate_tasks, polyglot_image
from evaluator.benchmarks.polyglot import PolyglotBenchmark
from evaluator.errors import ImageUnavailable
from evaluator.languages import rust

ROOT = Path(__file__).parent / "fixtures" / "polyglot-crates"


def _lock() -> dict:
    return tomllib.loads(polyglot_image.CRATE_LOCK.read_text())


def test_the_lock_resolves_the_crate_list() -> None:
    """Every crate the list asks for is in the lock (the root depends on each), pins and stubs included:
    an edit of polyglot_crates.toml without `lock-crates` fails here."""
    spec = polyglot_image.crate_spec()
    packages = _lock()["package"]
    root = next(p for p in packages if "source" not in p)
    versions: dict[str, set[str]] = {}
    for package in packages:
        versions.setdefault(package["name"], set()).add(package["version"])
    wanted = {(v["package"] if isinstance(v, dict) else k) for k, v in spec["dependencies"].items()}
    assert {d.split(" ")[0] for d in root["dependencies"]} == wanted
    assert len(root["dependencies"]) == len(spec["dependencies"])  # rand 0.3 and rand 0.8 both
    for name, version in spec["pin"].items():
        assert versions[name] == {version}, name
    assert set(spec["stub"]["crates"]) <= set(versions)
    assert all(p.get("checksum") for p in packages if "source" in p)


def test_the_image_has_boost_and_the_crates_and_its_tag_follows_the_lock(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = polyglot_image.dockerfile(("cpp", "rust"), base="clade-sandbox:x")
    assert " libboost-date-time-dev " in recipe and "COPY files/ /" in recipe
    config = tomllib.loads(polyglot_image.files(("rust",))[polyglot_image.CARGO_CONFIG])
    assert config["source"]["crates-io"]["replace-with"] == "clade-vendored"
    assert config["source"]["clade-vendored"]["directory"] == polyglot_image.CRATES_DIR
    assert polyglot_image.crates(("go",)) == [] and len(polyglot_image.crates(("rust",))) > 30

    go, rust_tag = (polyglot_image.image_tag(langs, base="clade-sandbox:x") for langs in (("go",), ("rust",)))
    edited = tmp_path / "polyglot_crates.lock"
    edited.write_text(polyglot_image.CRATE_LOCK.read_text().replace('version = "0.3.20"', 'version = "0.3.19"', 1))
    monkeypatch.setattr(polyglot_image, "CRATE_LOCK", edited)
    assert polyglot_image.image_tag(("rust",), base="clade-sandbox:x") != rust_tag
    assert polyglot_image.image_tag(("go",), base="clade-sandbox:x") == go  # no Rust, no crates in its recipe


def _crate_file(folder: str, files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{rel}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_vendored_crate_is_a_directory_source_entry_and_a_stub_keeps_only_its_manifest() -> None:
    archive = _crate_file("demo-1.0.0", {"Cargo.toml": b"[package]\n", "build.rs": b"fn main() {}\n",
                                         "src/lib.rs": b"pub fn f() {}\n", "lib/huge.a": b"x" * 1000})
    crate = polyglot_image.Crate("demo", "1.0.0", hashlib.sha256(archive).hexdigest())
    full = {rel: data for rel, data, _ in polyglot_image._crate_files(crate, archive)}
    assert set(full) == {"Cargo.toml", "build.rs", "src/lib.rs", "lib/huge.a", ".cargo-checksum.json"}
    assert json.loads(full[".cargo-checksum.json"]) == {"files": {}, "package": crate.checksum}
    stub = polyglot_image.Crate("demo", "1.0.0", crate.checksum, stub=True)
    kept = {rel: data for rel, data, _ in polyglot_image._crate_files(stub, archive)}
    assert set(kept) == {"Cargo.toml", "build.rs", "src/lib.rs", ".cargo-checksum.json"} and kept["src/lib.rs"] == b""


def test_a_crate_with_the_wrong_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crate = polyglot_image.Crate("demo", "1.0.0", "0" * 64)
    (tmp_path / "demo-1.0.0.crate").write_bytes(b"not it")  # a bad cached copy is fetched again

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(polyglot_image.urllib.request, "urlopen", lambda url, timeout: Response(b"tampered"))
    with pytest.raises(ImageUnavailable, match="does not have the checksum"):
        polyglot_image.fetch_crate(crate, tmp_path)

    def offline(url: str, timeout: float) -> None:
        raise OSError("unreachable")

    monkeypatch.setattr(polyglot_image.urllib.request, "urlopen", offline)
    with pytest.raises(ImageUnavailable, match="copy demo-1.0.0.crate into"):
        polyglot_image.fetch_crate(crate, tmp_path)


def _exercise(tmp_path: Path, own: str, example: str | None) -> Path:
    (tmp_path / ".meta").mkdir(parents=True)
    (tmp_path / "Cargo.toml").write_text(own)
    if example is not None:
        (tmp_path / rust.EXAMPLE_MANIFEST).write_text(example)
    return tmp_path


def test_the_manifest_the_tests_build_with_adds_the_examples_dependencies(tmp_path: Path) -> None:
    package = '[package]\nedition = "2021"\nname = "demo"\nversion = "1.0.0"\n'
    example = package + '\n[dependencies]\nitertools = "0.5"\nanyhow = { version = "1.0", default-features = false }\n'
    merged = rust.grading_manifest(_exercise(tmp_path / "a", package, example))
    assert merged is not None and merged.startswith(package)  # the exercise's text, then the added lines
    assert tomllib.loads(merged)["dependencies"] == tomllib.loads(example)["dependencies"]

    # grep's shape: [dependencies] first, the exercise's own requirement kept for a crate both name
    own = '[dependencies]\nanyhow = "1.0"\n\n' + package
    merged = rust.grading_manifest(_exercise(tmp_path / "b", own, '[dependencies]\nanyhow = "1.0.5"\nthiserror = "1"\n'))
    assert tomllib.loads(merged)["dependencies"] == {"anyhow": "1.0", "thiserror": "1"}
    assert tomllib.loads(merged)["package"]["name"] == "demo"

    assert rust.grading_manifest(_exercise(tmp_path / "c", own, package)) is None  # nothing more needed
    assert rust.grading_manifest(_exercise(tmp_path / "d", own, None)) is None  # no Cargo-example.toml
    assert rust.grading_manifest(ROOT / "rust/exercises/practice/gigasecond") is None  # `time` is its own


@pytest.mark.docker
@pytest.mark.parametrize("task_id", ["rust__gigasecond", "cpp__gigasecond"])
def test_gold_builds_with_the_crate_or_boost_and_noop_does_not(polyglot_image: str, tmp_path: Path,
                                                               task_id: str) -> None:
    """gigasecond's tests need `time` (Rust) or Boost's date_time (C++): gold resolves in the real image,
    offline, and noop's stub does not."""
    task = PolyglotBenchmark(ROOT, image=polyglot_image).task(task_id)
    gold, noop = (evaluate_tasks([task], agent, EvalOptions(log_root=tmp_path / agent.name))[0]
                  for agent in (GOLD, NOOP))
    assert gold.outcome == Outcome.RESOLVED, gold.reason
    assert noop.outcome == Outcome.UNRESOLVED, noop.reason
    used = {"rust": '"package_id":"time 0.3.', "cpp": "Found Boost"}[task.metadata["language"]]
    assert used in (Path(gold.log_dir) / "test_output.txt").read_text()
