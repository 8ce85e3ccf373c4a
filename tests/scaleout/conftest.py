"""A real Ray cluster on this machine: a head that runs no work (num_cpus=0)
and two worker nodes (one CPU each, told apart by a resource of their own),
each a raylet process with its own worker processes, like `ray start --head`
plus two `ray start --address`. This test process is the driver.

The worker nodes are started with a CLADE_HOME of their own and a database
URL that leads nowhere, so a unit that touched the archive would fail: only
the driver writes to it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.evolve.conftest import engine_tasks, scripted_world  # noqa: F401 - the engine tests' world

OBJECT_STORE = 80 * 2**20  # Ray's minimum is 75 MiB; three nodes stay near 200-250 MiB
WORKER_ENV = {"CLADE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/workers-have-no-archive"}


@dataclass
class RayCluster:
    cluster: Any
    workers: list[Any] = field(default_factory=list)
    worker_home: Path = Path()
    names: int = 0

    def add_worker(self) -> Any:
        name = f"worker_{chr(ord('a') + self.names)}"
        self.names += 1
        saved = {k: os.environ.get(k) for k in (*WORKER_ENV, "CLADE_HOME")}
        os.environ.update(WORKER_ENV, CLADE_HOME=str(self.worker_home))
        try:
            node = self.cluster.add_node(num_cpus=1, resources={name: 1}, object_store_memory=OBJECT_STORE)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.workers.append(node)
        return node

    def remove_worker(self, node: Any) -> None:
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)

    def node_ids(self) -> set[str]:
        return {n.node_id for n in self.workers}

    def raylet_pid(self, node: Any) -> int:
        from ray._private import ray_constants

        return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": OBJECT_STORE})
    # The driver connects before the workers exist, so it is attached to the head's raylet.
    ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING, namespace="clade-tests")
    state = RayCluster(cluster, worker_home=Path(tempfile.mkdtemp(prefix="clade-ray-worker-home-")))
    try:
        state.add_worker()
        state.add_worker()
        yield state
    finally:
        ray.shutdown()
        cluster.shutdown()


def worker_processes(title_prefix: str) -> dict[int, str]:
    """Ray worker processes by pid whose title (`ray::<task name>`) starts with `title_prefix`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").strip()
        except OSError:
            continue
        if title.startswith(title_prefix):
            found[int(entry.name)] = title
    return found


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])
