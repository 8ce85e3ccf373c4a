"""Calls from inside a real sandbox, over the gateway socket mounted into it.

The container has no network: the mounted socket is its only way to the
model. Its calls must reach the backend, be accounted to the node whose
token it holds, and nothing secret may be visible inside.
"""

from __future__ import annotations

import json

import pytest

from archive import Archive
from sandbox.docker_sandbox import LLM_SOCKET_PATH, DockerSandbox
from sandbox.limits import SandboxLimits
from tests.llm.conftest import GatewayFactory, scripted_backend
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer

pytestmark = pytest.mark.docker

SECRET = "sk-clade-test-secret-0123456789"

# What an agent does, standard library only: POST over the http+unix URL.
CLIENT = r"""
import http.client, json, os, socket, sys, urllib.parse

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path_ = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path_)

url = urllib.parse.urlsplit(os.environ["CLADE_LLM_BASE_URL"])
assert url.scheme == "http+unix", url
token = sys.argv[2] if len(sys.argv) > 2 else os.environ["CLADE_LLM_TOKEN"]
body = {"model": os.environ["CLADE_MODEL"], "messages": [{"role": "user", "content": sys.argv[1]}]}
conn = UnixConnection(urllib.parse.unquote(url.netloc))
conn.request("POST", url.path + "/chat/completions", json.dumps(body),
             {"Content-Type": "application/json", "Authorization": "Bearer " + token})
response = conn.getresponse()
print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
"""

LOOK_FOR_SECRETS = r"""
import glob, os, socket, sys
found = [k for k, v in os.environ.items() if "sk-" in v or "KEY" in k.upper()]
for path in glob.glob("/proc/[0-9]*/environ"):
    try:
        if sys.argv[1].encode() in open(path, "rb").read():
            found.append(path)
    except OSError:
        pass
reachable = True
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2).close()
except OSError:
    reachable = False
print("found", found, "reachable", reachable)
"""


def run_client(sandbox: DockerSandbox, prompt: str, token: str | None = None) -> dict:
    argv = ["python3", "/tmp/client.py", prompt] + ([token] if token else [])
    result = sandbox.exec(argv, timeout=60)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_sandboxed_calls_reach_the_backend_and_are_accounted_to_their_node(
    sandbox_image: str, archive: Archive, gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLADE_TEST_BACKEND_KEY", SECRET)
    run = archive.repo.create_run("sandboxed", {})
    node_a = archive.repo.add_node(run.id, None)
    node_b = archive.repo.add_node(run.id, node_a.id)
    evaluation = archive.repo.start_evaluation(node_b.id, "task-1")
    script = Script(
        default=lambda request: Reply.text(f"echo: {request.last_text}", prompt_tokens=7, completion_tokens=3)
    )
    with ScriptedServer(script, api_key=SECRET) as server:
        gateway = gateway_factory(
            scripted_backend(server, name="local", api_key_env="CLADE_TEST_BACKEND_KEY"), repo=archive.repo
        )
        assert gateway.config.socket_path is not None
        for node, evaluation_id, prompts in ((node_a, None, ["one", "two"]), (node_b, evaluation.id, ["three"])):
            token = gateway.issue_token(run_id=run.id, node_id=node.id, evaluation_id=evaluation_id, purpose="solve")
            env = {"CLADE_LLM_BASE_URL": gateway.sandbox_base_url(LLM_SOCKET_PATH), "CLADE_LLM_TOKEN": token,
                   "CLADE_MODEL": "local"}  # fmt: skip
            limits = SandboxLimits(lifetime=120)
            with DockerSandbox(sandbox_image, limits, llm_socket=gateway.config.socket_path, env=env) as sandbox:
                sandbox.write_files({"/tmp/client.py": CLIENT, "/tmp/secrets.py": LOOK_FOR_SECRETS})
                for prompt in prompts:
                    answer = run_client(sandbox, prompt)
                    assert answer["status"] == 200, answer
                    assert answer["body"]["choices"][0]["message"]["content"] == f"echo: {prompt}"
                refused = run_client(sandbox, "no", token="clade-forged-token")
                assert refused["status"] == 401
                looked = sandbox.exec(["python3", "/tmp/secrets.py", SECRET, str(server.port)], timeout=60)
                assert looked.output.strip() == "found [] reachable False", looked.output
            gateway.revoke_token(token)
        gateway.flush()
        assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)

    calls = archive.repo.llm_calls(run_id=run.id)
    assert [(c.node_id, c.evaluation_id) for c in calls] == [
        (node_a.id, None), (node_a.id, None), (node_b.id, evaluation.id)
    ]  # fmt: skip
    assert [len(archive.repo.llm_calls(node_id=n.id)) for n in (node_a, node_b)] == [2, 1]
    assert archive.repo.get_run(run.id).prompt_tokens == 21
