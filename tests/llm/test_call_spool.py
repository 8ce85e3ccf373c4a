"""No model call goes unrecorded: the gateway spools each answered call before
the caller gets the answer, and the next recorder writes what the archive lacks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from archive import Archive
from llm.accounting import CallRecord, CallRecorder
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer

CALLS = 3

# A driver's gateway: it answers CALLS calls, then waits to be killed.
GATEWAY_PROCESS = """
import sys, time
from pathlib import Path
from archive import open_archive
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from llm.uds import http_client, unix_base_url

run_id, base_url, spool, sock = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
archive = open_archive()
backend = BackendConfig(name="m", model="hosted_vllm/scripted", api_base=base_url)
gateway = Gateway(GatewayConfig(backends=[backend], socket_path=sock), repo=archive.repo, spool=spool).start()
token = gateway.issue_token(run_id=run_id, purpose="solve", model="m")
with http_client(unix_base_url(sock), timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
    def call():
        answer = client.post("/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200, answer.text
    call()  # reads the run's spend from the archive, and is written to it
    gateway.flush()
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(%d):
        call()
print("answered", flush=True)
time.sleep(600)
""" % CALLS


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_calls_answered_before_a_kill_are_recorded_by_the_next_driver(archive: Archive, short_tmp: Path) -> None:
    run = archive.repo.create_run("spooled", {})
    spool = archive.home.run_dir(run.id) / "llm-calls.jsonl"
    blocker = sqlite3.connect(archive.home.root / "clade.db", timeout=5, isolation_level=None)
    with ScriptedServer(Script(default=Reply.text("ok", prompt_tokens=7, completion_tokens=2))) as server:
        gateway = subprocess.Popen(
            [sys.executable, "-c", GATEWAY_PROCESS, str(run.id), server.base_url, str(spool), str(short_tmp / "g.sock")],
            env={**os.environ, "CLADE_HOME": str(archive.home.root)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        try:
            assert gateway.stdin is not None and gateway.stdout is not None
            assert gateway.stdout.readline().strip() == "ready"
            # Hold the database's write lock: the gateway's writer thread can write nothing,
            # as when a kill lands between an answer and its row.
            blocker.execute("BEGIN EXCLUSIVE")
            gateway.stdin.write("go\n")
            gateway.stdin.flush()
            assert gateway.stdout.readline().strip() == "answered"
        finally:
            gateway.send_signal(signal.SIGKILL)
            gateway.wait()
        served = len(server.chat_requests)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert served == 1 + CALLS
    assert len(archive.repo.llm_calls(run_id=run.id)) == 1  # the kill came before the last CALLS rows were written

    recorder = CallRecorder(archive.repo, spool)
    assert recorder.replay() == CALLS  # the first call is in the spool too, and is not written again
    calls = archive.repo.llm_calls(run_id=run.id)
    assert [(c.purpose, c.prompt_tokens, c.completion_tokens) for c in calls] == [("solve", 7, 2)] * served
    assert len({c.call_key for c in calls}) == served
    stored = archive.repo.get_run(run.id)
    assert (stored.llm_calls_count, stored.prompt_tokens, stored.completion_tokens) == (served, 7 * served, 2 * served)
    assert spool.read_text() == "" and recorder.replay() == 0  # emptied once recorded


def test_a_replayed_row_the_archive_already_holds_is_not_counted_twice(archive: Archive, tmp_path: Path) -> None:
    run = archive.repo.create_run("replayed", {})
    written = CallRecord(model="m", run_id=run.id, node_id=None, evaluation_id=None, purpose="diagnosis",
                         prompt_tokens=10, completion_tokens=3, cost_usd=0.5, latency_s=0.1, error=None)
    unwritten = CallRecord(**{**written.as_kwargs(), "key": "f" * 32, "prompt_tokens": 4})
    archive.repo.record_llm_calls_once([written.as_kwargs()])  # the writer got this one in before the kill
    spool = tmp_path / "llm-calls.jsonl"
    spool.write_text("".join(json.dumps(row.as_kwargs()) + "\n" for row in (written, unwritten))
                     + '{"model": "m", "run_id": ')  # the last line, cut short by the kill
    assert CallRecorder(archive.repo, spool).replay() == 1
    stored = archive.repo.get_run(run.id)
    assert (stored.llm_calls_count, stored.prompt_tokens, stored.cost_usd) == (2, 14, 1.0)
