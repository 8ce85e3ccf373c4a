"""The ray executor on a real local Ray cluster, with plain functions and
small units (no sandboxes): where units run, what travels with them, how
they reach the gateway, what errors look like to the engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evolve.config import RayConfig
from llm.config import BackendConfig, GatewayConfig
from llm.gateway import Gateway
from sandbox.errors import DockerUnavailable
from tests.scaleout.conftest import RayCluster
from evaluator.contract import ModelAccess
from tests.scaleout.units import ChatUnit, chat, docker_down, inverse, look, unit, where
from tests.support.script import Reply
from tests.support.scripted_server import ScriptedServer

pytest.importorskip("ray")


@pytest.fixture
def executor(ray_cluster: RayCluster):
    from evolve.ray_executor import RayExecutor

    ex = RayExecutor(RayConfig(max_retries=1), workers=2)
    yield ex
    ex.shutdown()


def test_units_run_on_the_worker_nodes_and_errors_keep_their_type(executor, ray_cluster: RayCluster) -> None:
    infos = [executor.submit(where, unit(i)).result(timeout=120) for i in range(6)]
    assert {i["node_id"] for i in infos} <= ray_cluster.node_ids()  # never on the head (num_cpus=0)
    assert all(i["pid"] != os.getpid() for i in infos)
    assert executor.submit(inverse, unit(number=4)).result(timeout=60) == 0.25
    error = executor.submit(inverse, unit(number=0)).exception(timeout=60)
    assert isinstance(error, ZeroDivisionError)
    # The engine stops the run on these (FATAL_ERRORS); they must still be recognisable after retries.
    error = executor.submit(docker_down, unit()).exception(timeout=120)
    assert isinstance(error, DockerUnavailable) and "no Docker engine" in str(error)


def test_a_unit_reaches_the_gateway_through_its_workers_relay(executor, tmp_path: Path) -> None:
    folder = Path(f"/tmp/clade-test-gw-{os.getpid()}")
    folder.mkdir(exist_ok=True)
    with ScriptedServer(lambda request: Reply.text("pong: " + request.messages[-1]["content"])) as model:
        backend = BackendConfig(name="local", model="hosted_vllm/scripted", api_base=model.base_url, max_retries=0)
        with Gateway(GatewayConfig(backends=[backend], socket_path=folder / "llm.sock")) as gateway:
            executor.attach_gateway(gateway)
            assert executor.link is not None and not executor.link.address.startswith("/")
            token = gateway.issue_token(run_id=None, node_id=7, purpose="diagnosis")
            futures = [executor.submit(chat, ChatUnit(7, ModelAccess(str(gateway.config.socket_path), "local", token),
                                                           f"hi {i}"))
                       for i in range(4)]
            answers = [f.result(timeout=120) for f in futures]
    assert sorted(a["answer"] for a in answers) == [f"pong: hi {i}" for i in range(4)]
    # The worker used its own relay socket, not the driver's path (which it could not reach on another machine).
    assert all(a["socket_path"] != str(folder / "llm.sock") and "clade-relay-" in a["socket_path"] for a in answers)
    assert all(a["pid"] != os.getpid() for a in answers)


def test_what_a_unit_names_on_the_drivers_disk_travels_with_it(executor, engine_tasks, tmp_path: Path) -> None:
    source = tmp_path / "repo"
    (source / "pkg").mkdir(parents=True)
    (source / "README.md").write_text("driver-only files\n")
    (source / "pkg" / "mod.py").write_text("X = 1\n")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "diagnosis_system.md").write_text("custom prompt")
    task = engine_tasks[0].model_copy(update={"source_dir": source})
    seen = executor.submit(look, unit(task=task, prompts_dir=str(prompts))).result(120)
    assert seen["source_dir"] != str(source) and seen["readme"] == "driver-only files\n"
    assert seen["source_files"] == ["README.md", "pkg/mod.py"]
    assert seen["prompts"] == {"diagnosis_system.md": "custom prompt"}

