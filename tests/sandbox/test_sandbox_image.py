"""The offline image: recipe tags, no needless rebuilds, what is inside, and docker/Dockerfile in step."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import docker
from sandbox import debian, image, recipe
from sandbox.docker_sandbox import DockerSandbox
from sandbox.errors import ImageBuildError

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "Dockerfile"


def test_tags_carry_a_hash_of_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    first = recipe.current_recipe()
    assert first == recipe.current_recipe()  # deterministic
    assert re.fullmatch(r"clade-sandbox:[0-9a-f]{12}", first.runtime_tag)
    assert re.fullmatch(r"clade-sandbox-base:[0-9a-f]{12}", first.base_tag)
    monkeypatch.setattr(recipe, "WHEELS", (*recipe.WHEELS, "hypothesis==6.0.0"))
    wheels_changed = recipe.current_recipe()
    assert wheels_changed.base_tag == first.base_tag and wheels_changed.runtime_tag != first.runtime_tag
    monkeypatch.setattr(recipe, "DEBIAN_PACKAGES", (*recipe.DEBIAN_PACKAGES, "curl"))
    packages_changed = recipe.current_recipe()
    assert packages_changed.base_tag != first.base_tag and packages_changed.runtime_tag != wheels_changed.runtime_tag


def test_the_runtime_image_tag_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(recipe.IMAGE_ENV, raising=False)
    assert recipe.runtime_image_tag() == recipe.current_recipe().runtime_tag
    monkeypatch.setenv(recipe.IMAGE_ENV, "registry.example/clade-sandbox:1")
    assert recipe.runtime_image_tag() == "registry.example/clade-sandbox:1"


def test_cache_lives_under_clade_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLADE_HOME", str(tmp_path))
    assert image.cache_dir() == tmp_path / "cache" / "sandbox"
    monkeypatch.delenv("CLADE_HOME")
    assert image.cache_dir() == Path.home() / ".clade" / "cache" / "sandbox"


def test_the_mirror_comes_from_the_environment_or_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(debian.MIRROR_ENV, "http://mirror.example/debian")
    assert debian.find_mirror() == "http://mirror.example/debian"
    monkeypatch.delenv(debian.MIRROR_ENV)
    assert debian.find_mirror().startswith("http")


def test_debootstrap_failure_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(debian.MIRROR_ENV, "http://127.0.0.1:9/debian")  # nothing listens there
    with pytest.raises(ImageBuildError) as caught:
        debian.debootstrap(tmp_path / "rootfs", lambda stage, message: None)
    message = str(caught.value)
    if os.geteuid() == 0:
        assert "debootstrap failed" in message and debian.MIRROR_ENV in message
    else:
        assert "needs root" in message


def test_docker_dockerfile_builds_the_same_layout() -> None:
    text = DOCKERFILE.read_text()
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    pins = re.findall(r"\b([a-z][a-z0-9_.-]*==[0-9][^\s\\]*)", text)
    assert sorted(pins) == sorted(recipe.WHEELS)
    for step in recipe.SETUP_STEPS:
        if "clade-wheels" in step:
            continue  # the offline build installs from wheels in its context instead of PyPI
        assert step in joined, step
    apt = re.search(r"apt-get install [^&]*", joined)
    assert apt is not None
    assert set(recipe.DEBIAN_PACKAGES) - {"python3", "python3-venv"} <= set(apt.group(0).split())
    assert f"ENV PATH={recipe.PATH} LANG=C.UTF-8 HOME={recipe.HOME}" in text
    assert f"USER {recipe.SANDBOX_UID}:{recipe.SANDBOX_UID}" in text
    assert "FROM ${BASE}" in text and "ARG BASE=python:3.11-slim" in text


@pytest.mark.docker
def test_an_unchanged_recipe_is_not_rebuilt(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    before = docker_client.images.get(sandbox_image).id
    stages: list[str] = []
    assert image.build(progress=lambda stage, message: stages.append(stage)) == sandbox_image
    assert stages == ["done"]
    assert docker_client.images.get(sandbox_image).id == before


@pytest.mark.docker
def test_images_are_labelled_with_their_recipe(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    spec = recipe.current_recipe()
    if sandbox_image != spec.runtime_tag:
        pytest.skip(f"{recipe.IMAGE_ENV} points at another image")
    runtime = docker_client.images.get(spec.runtime_tag)
    base = docker_client.images.get(spec.base_tag)
    assert runtime.labels[image.LABEL_RECIPE] == spec.runtime_hash
    assert base.labels[image.LABEL_RECIPE] == spec.base_hash


@pytest.mark.docker
def test_what_is_inside_the_image(sandbox: DockerSandbox) -> None:
    freeze = sandbox.exec(["pip", "list", "--format=freeze"], timeout=60).output.split()
    installed = {line.lower().replace("_", "-") for line in freeze if "==" in line}
    assert {pin.lower() for pin in recipe.WHEELS} <= installed
    out = sandbox.exec(
        "getent passwd agent | cut -d: -f3,4,6; cat /etc/hostname; wc -c < /etc/resolv.conf; "
        "python3 --version; git --version; patch --version | head -1; make --version | head -1; "
        "find / -xdev -perm /6000 -type f 2>/dev/null | wc -l; ls /var/cache/apt/archives | wc -l",
        timeout=120,
    ).output.splitlines()
    assert out[0] == "1000:1000:/home/agent"
    assert out[1] == "sandbox"  # not the build host's name
    assert out[3].startswith("Python 3.11")
    assert out[4].startswith("git version") and out[5].startswith("GNU patch") and out[6].startswith("GNU Make")
    assert out[7] == "0"  # no set-uid programs
    assert out[8] == "0"  # no package cache
