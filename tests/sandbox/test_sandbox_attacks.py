"""The attack suite, attack by attack, against real containers; and proof that it can fail.

Each attack must be contained *and* reported with its evidence; after each
one the suite has checked that the host is untouched (canary file, no
leftover containers, processes still start) and that a new sandbox works.
"""

from __future__ import annotations

import os

import pytest

from sandbox import attacks
from sandbox.docker_sandbox import DockerSandbox

pytestmark = pytest.mark.docker

EXPECTED = [
    "network-public", "network-host", "network-dns", "fork-bomb", "memory-bomb", "disk-fill", "output-flood",
    "infinite-loop", "sandbox-lifetime", "host-secrets", "escape-workspace", "become-root", "kernel-surface",
    "docker-socket", "background-process", "leftover-process", "hostile-filename-in", "hostile-filename-out",
    "copy-back-sparse", "copy-back-race",
]
HOST_CHECKS = ("canary file unchanged; host memory held; host disk held; containers removed; host runs processes; "
               "next sandbox works")


def test_the_suite_covers_every_attack_of_the_issue() -> None:
    assert attacks.names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_attack_is_contained_and_reported(sandbox_image: str, name: str) -> None:
    seen = []
    [result] = attacks.run_attacks([name], image=sandbox_image, on_result=seen.append)
    assert seen == [result]
    assert result.contained, f"{name}: {result.detail} / host: {result.host}"
    assert result.detail and "NOT CONTAINED" not in result.detail
    assert result.host == HOST_CHECKS
    assert os.environ.get(attacks.CANARY_ENV) is None  # the canary left the host environment again


def test_unknown_attack_names_are_refused(sandbox_image: str) -> None:
    with pytest.raises(attacks.SandboxError, match="unknown attack"):
        attacks.run_attacks(["no-such-attack"], image=sandbox_image)


# The suite must be able to say "not contained". Weaken the sandbox on purpose and watch it notice.

def _weaken(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    original = DockerSandbox._host_config

    def weakened(self: DockerSandbox, mounts: list) -> dict:  # type: ignore[type-arg]
        config = original(self, mounts)
        config.update(changes)
        return config

    monkeypatch.setattr(DockerSandbox, "_host_config", weakened)


def test_a_sandbox_with_network_is_caught(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _weaken(monkeypatch, network_mode="bridge")
    results = {r.name: r for r in attacks.run_attacks(["network-public", "network-host"], image=sandbox_image)}
    assert not results["network-public"].contained
    assert "network interfaces" in results["network-public"].detail
    assert not results["network-host"].contained  # the host's listener on the bridge gateway answered
    assert "CONNECTED" not in results["network-host"].detail and "connected to" in results["network-host"].detail


def test_a_mounted_docker_socket_is_caught(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.exists("/var/run/docker.sock"):
        pytest.skip("the daemon is not on /var/run/docker.sock here")
    from docker.types import Mount

    _weaken(monkeypatch, mounts=[Mount("/var/run/docker.sock", "/var/run/docker.sock", type="bind")])
    [result] = attacks.run_attacks(["docker-socket"], image=sandbox_image)
    assert not result.contained and "reached Docker" in result.detail


def test_a_leaked_host_variable_is_caught(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = DockerSandbox.__init__

    def leaky(self: DockerSandbox, *args: object, **kwargs: object) -> None:
        kwargs["env"] = {"LEAK": os.environ.get(attacks.CANARY_ENV, "")}
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DockerSandbox, "__init__", leaky)
    [result] = attacks.run_attacks(["host-secrets"], image=sandbox_image)
    assert not result.contained and "canary seen in" in result.detail


def test_a_sandbox_under_the_engines_default_seccomp_is_caught(sandbox_image: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _weaken(monkeypatch, security_opt=["no-new-privileges:true"])
    [result] = attacks.run_attacks(["kernel-surface"], image=sandbox_image)
    assert not result.contained
    assert "allowed: ['io_uring_setup" in result.detail and "0 seccomp profile(s)" in result.detail


def test_leftovers_that_nobody_kills_are_caught(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DockerSandbox, "_kill_leftovers", lambda self, user="": None)
    [result] = attacks.run_attacks(["leftover-process"], image=sandbox_image)
    assert not result.contained and "leftover(s) survived the command" in result.detail
    assert result.host == HOST_CHECKS  # closing the sandbox still removed them with the container


def test_copy_back_without_the_check_inside_is_caught(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import docker_sandbox

    unchecked = 'shift 3\nexec tar -c -f - --no-recursion -- "$@"\n'
    monkeypatch.setattr(docker_sandbox, "_READ_SCRIPT", unchecked)
    [result] = attacks.run_attacks(["copy-back-sparse"], image=sandbox_image)
    assert not result.contained and "read_file out/patch.diff" in result.detail
