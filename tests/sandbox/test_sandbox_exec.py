"""Running commands in a real sandbox: results, limits, time-outs, output caps, isolation basics."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sandbox.docker_sandbox import DockerSandbox
from sandbox.limits import SandboxLimits

pytestmark = pytest.mark.docker


def test_exit_status_and_interleaved_output(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("echo out; echo err >&2; exit 3", timeout=30)
    assert result.exit_code == 3 and not result.ok
    assert result.output == "out\nerr\n"
    assert not result.timed_out and not result.truncated
    assert result.duration > 0


def test_argv_is_passed_without_a_shell(sandbox: DockerSandbox) -> None:
    result = sandbox.exec(["python3", "-c", "import sys; print(sys.argv[1:])", "$HOME", "a b", "--x"], timeout=30)
    assert result.ok
    assert result.output == "['$HOME', 'a b', '--x']\n"


def test_runs_as_uid_1000_in_the_workspace_with_the_test_tools(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("id -u; id -g; pwd; echo $HOME; pytest --version; git --version; gcc --version | head -1",
                          timeout=60)
    assert result.ok, result.output
    lines = result.output.splitlines()
    assert lines[:4] == ["1000", "1000", "/workspace", "/home/agent"]
    assert lines[4].startswith("pytest ")
    assert lines[5].startswith("git version")
    assert "gcc" in lines[6]


def test_a_command_that_does_not_exist_exits_127_and_says_so(sandbox: DockerSandbox) -> None:
    result = sandbox.exec(["no-such-command-xyz", "arg"], timeout=30)
    assert result.exit_code == 127
    assert "no-such-command-xyz" in result.output
    assert not result.timed_out
    assert sandbox.exec(["true"]).ok  # the sandbox is fine afterwards


def test_stdin_input_and_environment_and_workdir(sandbox: DockerSandbox) -> None:
    sandbox.exec("mkdir -p sub", timeout=30)
    payload = os.urandom(300_000).hex()  # bigger than any pipe buffer
    result = sandbox.exec("wc -c; echo $GREETING; pwd", input=payload, env={"GREETING": "hi"}, workdir="sub",
                          timeout=30)
    assert result.output.split() == [str(len(payload)), "hi", "/workspace/sub"]


def test_nothing_of_the_host_environment_gets_in(sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLADE_TEST_HOST_SECRET", "s3cret-host-value")
    with DockerSandbox(sandbox_image) as sb:
        env = sb.exec("env", timeout=30).output
    names = sorted(line.split("=", 1)[0] for line in env.splitlines())
    assert "s3cret-host-value" not in env
    assert set(names) <= {"PATH", "HOME", "USER", "LOGNAME", "LANG", "HOSTNAME", "PWD", "SHLVL", "_", "CLADE_EXEC_ID"}


def test_time_out_kills_the_command_and_reports_it(sandbox: DockerSandbox) -> None:
    started = time.monotonic()
    result = sandbox.exec("echo before; sleep 60; echo after", timeout=1.5)
    assert result.timed_out and result.exit_code == 124 and not result.ok
    assert result.output == "before\n"
    assert time.monotonic() - started < 30  # nowhere near the 60 s the command wanted
    assert sandbox.exec("echo still-here", timeout=30).output == "still-here\n"


def test_a_command_exiting_124_by_itself_is_not_a_time_out(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("exit 124", timeout=30)
    assert result.exit_code == 124 and not result.timed_out


def test_output_is_capped_head_and_tail_kept(sandbox_image: str) -> None:
    with DockerSandbox(sandbox_image, SandboxLimits(max_output_bytes=4096)) as sb:
        result = sb.exec("echo FIRST; seq 1 200000; echo LAST", timeout=60)
    assert result.ok and result.truncated
    assert result.output.startswith("FIRST\n") and result.output.endswith("LAST\n")
    assert "bytes of output dropped" in result.output
    assert len(result.output) < 4096 + 100


def test_invalid_utf8_output_does_not_break_decoding(sandbox: DockerSandbox) -> None:
    result = sandbox.exec(["python3", "-c", "import sys; sys.stdout.buffer.write(b'ok\\xff\\xfe\\n')"], timeout=30)
    assert result.ok and result.output.startswith("ok") and "\ufffd" in result.output


_PROBE = ["python3", "-c", "import socket,time\nfor i in range(50):\n  try:\n"
          "    socket.create_connection(('127.0.0.1', 8000)); print('up'); break\n"
          "  except OSError: time.sleep(0.1)\nelse: print('down')"]


def test_background_process_kept_on_request_does_not_hold_the_exec_open(sandbox: DockerSandbox) -> None:
    """With kill_leftovers=False a server started in the background keeps running; the exec still returns."""
    result = sandbox.exec("python3 -m http.server 8000 >/dev/null 2>&1 & echo started", timeout=30,
                          kill_leftovers=False)
    assert result.ok and result.output == "started\n"
    assert sandbox.exec(_PROBE, timeout=30, kill_leftovers=False).output == "up\n"
    sandbox.exec(["true"], timeout=30)  # the default: what the earlier commands left is killed now
    assert sandbox.exec(_PROBE, timeout=30).output == "down\n"


_LEFT = "pgrep -u {uid} -f -c '^sleep 1000' || true"


def test_processes_a_returned_command_left_are_killed(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("env -i setsid sleep 1000 & nohup sleep 1000 >/dev/null 2>&1 & "
                          "(trap '' TERM HUP; sleep 1000) >/dev/null 2>&1 & sleep 0.2; pgrep -c -f '^sleep 1000'",
                          timeout=30)
    assert result.ok and result.output == "3\n"
    assert sandbox.exec(_LEFT.format(uid=1000), timeout=30).output == "0\n"
    assert sandbox.exec("echo alive", timeout=30).output == "alive\n"  # the keeper (another uid) survived


def test_leftovers_are_killed_for_the_user_the_command_ran_as_only(sandbox: DockerSandbox) -> None:
    sandbox.exec("env -i setsid sleep 1000 &", timeout=30, user="grader", kill_leftovers=False)
    sandbox.exec("env -i setsid sleep 1000 &", timeout=30)  # as the sandbox user: only its own go
    assert sandbox.exec(_LEFT.format(uid=1001), timeout=30).output == "1\n"
    assert sandbox.exec(_LEFT.format(uid=1000), timeout=30).output == "0\n"
    sandbox.exec("true", timeout=30, user="grader")
    assert sandbox.exec(_LEFT.format(uid=1001), timeout=30).output == "0\n"


def test_a_timed_out_command_leaves_nothing_either(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("env -i setsid sleep 1000 & sleep 60", timeout=1)
    assert result.timed_out
    assert sandbox.exec(_LEFT.format(uid=1000), timeout=30).output == "0\n"


def test_another_exec_running_meanwhile_is_spared(sandbox: DockerSandbox) -> None:
    results: dict[str, str] = {}
    slow = threading.Thread(target=lambda: results.update(slow=sandbox.exec(
        "sleep 3; echo slow-done", timeout=30).output))
    slow.start()
    time.sleep(1)
    for _ in range(3):
        assert sandbox.exec("env -i setsid sleep 1000 &", timeout=30).ok
    slow.join()
    assert results == {"slow": "slow-done\n"}
    assert sandbox.exec(_LEFT.format(uid=1000), timeout=30).output == "0\n"


def test_concurrent_execs_in_one_sandbox(sandbox: DockerSandbox) -> None:
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i] = sandbox.exec(f"sleep 0.5; echo {i}", timeout=30).output

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"{i}\n" for i in range(6)}


def test_limits_are_applied_inside(sandbox_image: str) -> None:
    limits = SandboxLimits(memory="300m", pids=100, nofile=256, workspace_size="20m", cpus=0.5)
    with DockerSandbox(sandbox_image, limits) as sb:
        out = sb.exec(
            "ulimit -n; ulimit -c; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
            "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us; "
            "df -k /workspace | tail -1 | awk '{print $2}'; cat /proc/self/status | grep -E 'NoNewPrivs|CapEff'",
            timeout=30,
        ).output.split()
    assert out[:2] == ["256", "0"]
    assert out[2] == "100"
    assert out[3] == out[4] == str(300 * 2**20)  # swap included: memory+swap equals memory
    assert out[5] == "50000"  # half of a 100 ms period
    assert out[6] == str(20 * 1024)
    assert out[7:] == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]


def test_root_file_system_is_read_only_and_tmpfs_writable(sandbox: DockerSandbox) -> None:
    result = sandbox.exec("touch /usr/x 2>&1; touch /workspace/a /tmp/b /home/agent/c /dev/shm/d && echo writable",
                          timeout=30)
    assert "Read-only file system" in result.output
    assert result.output.strip().endswith("writable")


def test_compiled_programs_run_from_the_workspace(sandbox: DockerSandbox) -> None:
    sandbox.write_file("hello.c", '#include <stdio.h>\nint main(void){puts("compiled");return 0;}\n')
    result = sandbox.exec("gcc -o hello hello.c && ./hello", timeout=120)
    assert result.ok and result.output == "compiled\n", result.output


def test_the_host_side_deadline_holds_even_without_the_inner_timeout(sandbox: DockerSandbox) -> None:
    """The last line of defence: the host stops reading at its deadline whatever runs inside."""
    from sandbox import stream

    chunks: list[bytes] = []
    started = time.monotonic()
    outcome = stream.run_exec(sandbox._api, sandbox.id, ["sh", "-c", "echo begun; exec sleep 60"],
                              user="1000:1000", workdir="/workspace", env={},
                              deadline=time.monotonic() + 1.5, on_stdout=chunks.append, on_stderr=chunks.append)
    assert outcome.deadline_hit and outcome.exit_code is None
    assert b"".join(chunks) == b"begun\n"
    assert time.monotonic() - started < 10
