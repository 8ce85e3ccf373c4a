"""Containers go away on every exit path: close, exceptions, exit, SIGTERM, SIGKILL (reaped), lifetime."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import docker.errors
import pytest

import docker
from sandbox import reaper
from sandbox.docker_sandbox import DockerSandbox
from sandbox.errors import SandboxClosed

pytestmark = pytest.mark.docker


def exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


def gone_within(client: docker.DockerClient, container_id: str, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while exists(client, container_id):
        if time.monotonic() > give_up:
            return False
        time.sleep(0.2)
    return True


def start_owner(image: str, tail: str, lifetime: float = 300) -> tuple[subprocess.Popen[str], str]:
    """A separate Python process that opens a sandbox, prints its id, then runs ``tail``."""
    code = textwrap.dedent(f"""
        import sys, time
        from sandbox.docker_sandbox import DockerSandbox
        from sandbox.limits import SandboxLimits
        sb = DockerSandbox({image!r}, SandboxLimits(lifetime={lifetime}))
        print(sb.id, flush=True)
    """) + textwrap.dedent(tail)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    container_id = proc.stdout.readline().strip()
    assert container_id, "the owner process did not start a sandbox"
    return proc, container_id


def test_close_removes_the_container_and_is_idempotent(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    sb = DockerSandbox(sandbox_image)
    assert exists(docker_client, sb.id)
    sb.close()
    assert not exists(docker_client, sb.id)
    sb.close()
    assert sb.closed
    with pytest.raises(SandboxClosed, match="open a new one"):
        sb.exec(["true"])
    with pytest.raises(SandboxClosed):
        sb.read_file("x")


def test_an_exception_inside_the_with_block_still_removes_it(sandbox_image: str,
                                                            docker_client: docker.DockerClient) -> None:
    with pytest.raises(RuntimeError), DockerSandbox(sandbox_image) as sb:
        container_id = sb.id
        raise RuntimeError("boom")
    assert not exists(docker_client, container_id)


def test_labels_name_the_owner_and_the_deadline(sandbox: DockerSandbox, docker_client: docker.DockerClient) -> None:
    labels = docker_client.api.inspect_container(sandbox.id)["Config"]["Labels"]
    assert labels[reaper.LABEL] == "1"
    assert labels[reaper.LABEL_PID] == str(os.getpid())
    assert labels[reaper.LABEL_HOST] == socket.gethostname()
    assert labels[reaper.LABEL_START]
    assert float(labels[reaper.LABEL_DEADLINE]) > time.time()
    assert not reaper.owner_is_dead(labels)
    assert reaper.owner_is_dead({**labels, reaper.LABEL_START: "1"})  # same pid, different process
    assert reaper.owner_is_dead({**labels, reaper.LABEL_DEADLINE: str(time.time() - 3600)})


def test_normal_exit_without_close_removes_it(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    proc, container_id = start_owner(sandbox_image, "sys.exit(0)")
    assert proc.wait(timeout=60) == 0
    assert not exists(docker_client, container_id)


def test_sigterm_removes_it_and_still_terminates(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    proc, container_id = start_owner(sandbox_image, "time.sleep(120)")
    assert exists(docker_client, container_id)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM  # the default action still happens after clean-up
    assert not exists(docker_client, container_id)


def test_sigint_removes_it(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    proc, container_id = start_owner(sandbox_image, "time.sleep(120)")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert not exists(docker_client, container_id)


def test_sigkill_leaves_an_orphan_that_the_next_process_reaps(sandbox_image: str,
                                                             docker_client: docker.DockerClient,
                                                             sandbox: DockerSandbox) -> None:
    proc, orphan = start_owner(sandbox_image, "time.sleep(120)")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert exists(docker_client, orphan)  # nobody could clean up after SIGKILL...
    # ...so the next process that starts a sandbox reaps it.
    nxt, _ = start_owner(sandbox_image, "sb.close()")
    nxt.wait(timeout=60)
    assert not exists(docker_client, orphan)
    assert exists(docker_client, sandbox.id)  # a living owner's sandbox is left alone


def test_reap_orphans_removes_only_dead_owners(sandbox_image: str, docker_client: docker.DockerClient,
                                              sandbox: DockerSandbox) -> None:
    proc, orphan = start_owner(sandbox_image, "time.sleep(120)")
    proc.kill()
    proc.wait(timeout=30)
    removed = reaper.reap_orphans(docker_client)
    assert orphan in removed
    assert sandbox.id not in removed
    assert not exists(docker_client, orphan)


def test_an_orphan_ends_itself_at_its_lifetime(sandbox_image: str, docker_client: docker.DockerClient) -> None:
    proc, orphan = start_owner(sandbox_image, "time.sleep(120)", lifetime=3)
    proc.kill()
    proc.wait(timeout=30)
    assert gone_within(docker_client, orphan, 30)


def test_closing_from_another_thread_stops_a_running_command(sandbox_image: str) -> None:
    import threading

    sb = DockerSandbox(sandbox_image)
    threading.Timer(1.0, sb.close).start()
    started = time.monotonic()
    with pytest.raises(SandboxClosed):
        sb.exec(["sleep", "60"], timeout=60)
    assert time.monotonic() - started < 30


def test_a_forked_child_does_not_close_its_parents_sandbox(sandbox_image: str) -> None:
    proc, _ = start_owner(sandbox_image, """
        import os
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # a normal exit: the child runs the atexit hooks it inherited
        os.waitpid(pid, 0)
        print(sb.exec(["echo", "parent still has it"]).output, end="", flush=True)
        sb.close()
    """)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out == "parent still has it\n"


# ------------------------------------------------------------------ owned by the process, not the thread

def docker_ps_owned_by(pid: int) -> list[str]:
    """`docker ps -a` of the containers whose owner label names ``pid``."""
    listed = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={reaper.LABEL_PID}={pid}"],
                            capture_output=True, text=True, timeout=60, check=True)
    return listed.stdout.split()


def start_threaded_owner(image: str, head: str = "", tail: str = "time.sleep(120)",
                         imports: str = "import sandbox.factory") -> subprocess.Popen[str]:
    """A process whose sandboxes are opened on worker threads; it prints their ids, then runs ``tail``."""
    code = textwrap.dedent(head) + textwrap.dedent(f"""
        import concurrent.futures, sys, time
        {imports}
        from sandbox.limits import SandboxLimits

        def open_one(_):
            from sandbox.factory import open_sandbox
            return open_sandbox({image!r}, SandboxLimits(lifetime=300))

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            boxes = list(pool.map(open_one, range(2)))
        print(*[sb.id for sb in boxes], flush=True)
    """) + textwrap.dedent(tail)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_ids(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    assert len(ids) == 2, f"the owner did not start its sandboxes: {proc.communicate(timeout=30)}"
    return ids


def test_sigterm_removes_sandboxes_opened_on_worker_threads(sandbox_image: str,
                                                            docker_client: docker.DockerClient) -> None:
    proc = start_threaded_owner(sandbox_image)
    ids = read_ids(proc)
    assert sorted(docker_ps_owned_by(proc.pid)) == sorted(ids)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM  # the process still dies of the signal
    assert docker_ps_owned_by(proc.pid) == []
    assert not any(exists(docker_client, c) for c in ids)


def test_sigint_removes_sandboxes_opened_on_worker_threads(sandbox_image: str) -> None:
    proc = start_threaded_owner(sandbox_image)
    read_ids(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err  # Python's own SIGINT handler ran after ours
    assert docker_ps_owned_by(proc.pid) == []


def test_sigterm_chains_to_the_host_programs_own_handler(sandbox_image: str) -> None:
    head = """
        import os, signal, sys
        def host_handler(signum, frame):
            print("host handler ran", flush=True)
            os._exit(3)
        signal.signal(signal.SIGTERM, host_handler)
    """
    proc = start_threaded_owner(sandbox_image, head=head)
    read_ids(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "host handler ran" in out
    assert docker_ps_owned_by(proc.pid) == []


def test_a_program_that_first_imports_the_sandbox_on_a_worker_calls_install(sandbox_image: str) -> None:
    imports = """
        import threading
        threading.Thread(target=__import__, args=("sandbox.factory",)).start()  # the import, off the main thread
        time.sleep(2)
        from sandbox import cleanup
        assert not cleanup.installed()
        assert cleanup.install() and cleanup.install()  # from the main thread; idempotent
    """
    proc = start_threaded_owner(sandbox_image, imports=textwrap.indent(textwrap.dedent(imports), "        ").strip())
    read_ids(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert docker_ps_owned_by(proc.pid) == []


def test_an_ignored_signal_is_left_ignored() -> None:
    code = textwrap.dedent("""
        import signal
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        from sandbox import cleanup
        cleanup.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is cleanup._on_signal
        assert cleanup.previous_handler(signal.SIGTERM) is signal.SIG_DFL
        assert cleanup.previous_handler(signal.SIGINT) is signal.default_int_handler
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n", done.stderr


def test_a_signal_waits_for_sandboxes_being_created_on_other_threads() -> None:
    """No Docker: a stand-in sandbox registers 0.5 s into its creation; close_all still closes it."""
    import threading

    from sandbox import cleanup

    closed = threading.Event()

    class Box:
        def close(self) -> None:
            closed.set()
            cleanup.unregister(self)

    inside = threading.Event()

    def create() -> None:
        with cleanup.creating():
            inside.set()
            time.sleep(0.5)
            cleanup.register(Box())

    maker = threading.Thread(target=create)
    maker.start()
    inside.wait(5)
    cleanup.close_all(wait_for_creations=5)
    maker.join()
    assert closed.is_set()
