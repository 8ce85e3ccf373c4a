"""`clade sandbox` as a user runs it: a real process, real containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLADE = str(Path(sys.executable).with_name("clade"))

pytestmark = pytest.mark.docker


def clade(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLADE, "sandbox", *args], capture_output=True, text=True, env={**os.environ, **env},
                          timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_run_prints_output_and_passes_the_exit_status_through(sandbox_image: str) -> None:
    result = clade("run", "--", "sh", "-c", "echo hello; echo oops >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == "hello\noops\n"
    assert result.stderr.strip() == "clade: exit status 7"
    quiet = clade("run", "--", "true")
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""


def test_run_keeps_arguments_that_look_like_options(sandbox_image: str) -> None:
    result = clade("run", "--", "python3", "-c", "import sys; print(sys.argv[1:])", "-x", "--y")
    assert result.returncode == 0 and result.stdout == "['-x', '--y']\n"


def test_run_times_out_with_124(sandbox_image: str) -> None:
    result = clade("run", "--timeout", "1", "--", "sh", "-c", "echo started; sleep 60")
    assert result.returncode == 124
    assert result.stdout == "started\n"
    assert "timed out after 1 s" in result.stderr


def test_run_memory_limit_applies(sandbox_image: str) -> None:
    result = clade("run", "--memory", "64m", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert result.returncode == 0 and result.stdout.strip() == str(64 * 2**20)
    killed = clade("run", "--memory", "64m", "--", "python3", "-c", "x = b'x' * (256 * 2**20)")
    assert killed.returncode == 137  # the kernel's OOM killer, inside the sandbox only


def test_run_a_command_that_does_not_exist(sandbox_image: str) -> None:
    result = clade("run", "--", "no-such-command-xyz")
    assert result.returncode == 127
    assert "no-such-command-xyz" in result.stdout


def test_bad_input_is_one_line_with_exit_2(sandbox_image: str, tmp_path: Path) -> None:
    assert_one_line_error(clade("run", "--memory", "lots", "--", "true"), "--memory", "512m")
    assert_one_line_error(clade("run", "--", "true", DOCKER_HOST=f"unix://{tmp_path}/none.sock"),
                          "cannot reach the Docker daemon", "start it")
    assert_one_line_error(clade("run", "--", "true", CLADE_SANDBOX_IMAGE="clade-sandbox:missing"), "not in the local")
    assert_one_line_error(clade("run", "--image", "clade-sandbox:missing", "--", "true"), "clade sandbox build")
    assert_one_line_error(clade("check", CLADE_SANDBOX_IMAGE="clade-sandbox:missing"), "not in the local")


def test_build_reports_the_up_to_date_image_and_tag_names_it(sandbox_image: str) -> None:
    built = clade("build")
    assert built.returncode == 0 and built.stdout.strip() == sandbox_image
    assert "up to date" in built.stderr
    tag = clade("tag")
    assert tag.returncode == 0 and tag.stdout.strip() == sandbox_image


def test_check_prints_a_table_and_exits_0_when_contained(sandbox_image: str) -> None:
    result = clade("check", "--attack", "network-dns", "--attack", "escape-workspace")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "network-dns" in result.stdout and "escape-workspace" in result.stdout
    assert "yes" in result.stdout and "NO" not in result.stdout
    as_json = clade("check", "--attack", "become-root", "--json")
    [row] = json.loads(as_json.stdout)
    assert row["name"] == "become-root" and row["contained"] is True


def test_check_exits_1_when_something_is_not_contained(sandbox_image: str, tmp_path: Path) -> None:
    """A sitecustomize that gives every sandbox a network, loaded only by this child process."""
    (tmp_path / "sitecustomize.py").write_text(
        "from sandbox.docker_sandbox import DockerSandbox\n"
        "_original = DockerSandbox._host_config\n"
        "def _leaky(self, mounts):\n"
        "    config = _original(self, mounts)\n"
        "    config['network_mode'] = 'bridge'\n"
        "    return config\n"
        "DockerSandbox._host_config = _leaky\n"
    )
    result = clade("check", "--attack", "network-public", PYTHONPATH=str(tmp_path))
    assert result.returncode == 1
    assert "NO" in result.stdout and "not contained: network-public" in result.stderr


def test_reap(sandbox_image: str) -> None:
    result = clade("reap")
    assert result.returncode == 0 and result.stdout.startswith("removed ")


def test_seccomp_prints_the_profile_sandboxes_run_under() -> None:
    from sandbox import seccomp

    profile = clade("seccomp")
    assert profile.returncode == 0 and json.loads(profile.stdout) == seccomp.profile()
    assert json.loads(clade("seccomp", "--upstream").stdout) == seccomp.upstream()
    removed = clade("seccomp", "--removed").stdout
    assert "v20.10.24" in removed and "io_uring_setup:" in removed
