"""The `ray` executor: work units as Ray tasks on the nodes of a cluster.

The engine does not change: it still decides, writes every piece of work
down before it starts, and records each result once, on the driver, in the
archive (which must be PostgreSQL: `require_shared_archive`). This executor
only moves the units:

* **Self-contained units.** An expansion carries its parent's code as
  tarball bytes and its entry material, an evaluation its agent's code and
  its task; what a unit names on the driver's disk travels with it too (a
  task's repository files, a prompts folder), packed once per run and put
  in Ray's object store. Workers share no disk with the driver or each
  other, and each runs sandboxes on its own Docker engine.
* **The gateway.** Sandboxes still see only a Unix socket. On the driver a
  bridge (evolve.relay) listens on this machine's cluster address and
  forwards to the gateway's socket, after a per-run secret that every unit
  carries; each worker process runs a relay socket that its units' sandboxes
  (and the diagnosis call) use. Per-sandbox tokens, budgets and usage rows
  work exactly as on one machine.
* **Worker loss.** A unit whose worker process or node dies is run again
  by Ray on another worker (`ray.max_retries`, SPREAD scheduling); the
  driver's future resolves once, so a result is recorded once whatever
  happened to earlier attempts. Sandboxes a dead worker left behind are
  reaped by the next unit that starts on that machine (their owner labels
  name a dead process), and cannot reach the model any more: the relay they
  used died with their worker.

Each task is named after its unit (`clade-evaluate-<evaluation id>`,
`clade-expand-<node id>`), which is also its worker's process title, and
its result carries where it ran (an evaluation's details["worker"], an
expansion's logs["worker.json"]).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import CladeError
from evolve.relay import BridgeLink, GatewayBridge, ensure_relay
from evolve.units import Unit, pack_code, unpack_code
from evaluator.task_run import PLATFORM_ERRORS

if TYPE_CHECKING:
    from archive import Archive
    from evolve.config import RayConfig
    from llm.gateway import Gateway

log = logging.getLogger(__name__)

# A private one-machine Ray (`ray.address: local`) keeps a small footprint.
LOCAL_OBJECT_STORE_BYTES = 200 * 2**20
# A worker whose Docker is down or lacks an image (the sandbox's, a task's, the agents')
# may be the only broken one: try another.
RETRIED_ERRORS = PLATFORM_ERRORS


class RayExecutorError(CladeError):
    """The ray executor cannot work as configured; the message says what to fix."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayExecutorError(
            "the ray executor needs Ray: pip install 'clade[ray]' (on the driver and on every worker machine)"
        ) from None
    return ray


def require_shared_archive(archive: Archive | str) -> None:
    """Refuse a SQLite archive: a run spread over machines keeps its archive in PostgreSQL."""
    from sqlalchemy.engine import make_url

    url = make_url(archive) if isinstance(archive, str) else archive.db.engine.url
    if url.get_backend_name() == "sqlite":
        raise RayExecutorError(
            f"the ray executor needs the archive in PostgreSQL, not the SQLite file {url.database}: "
            "set CLADE_DATABASE_URL=postgresql+psycopg://USER@HOST/DB (a run spread over machines is watched, "
            "paused and cancelled from more than one place), then start the run again"
        )


def preflight(archive: Archive, settings: RayConfig) -> None:
    """What `create_run` checks before it writes anything: PostgreSQL, and a head that answers."""
    require_shared_archive(archive)
    address = settings.address or os.environ.get("RAY_ADDRESS")
    if address:
        _probe(address)


class RayExecutor:
    """Submits units as Ray tasks; hands back concurrent futures like LocalExecutor."""

    runs_here = False

    def __init__(self, settings: RayConfig | None = None, workers: int = 2) -> None:
        from evolve.config import RayConfig

        ray = _ray()
        self.settings = settings or RayConfig()
        self._owns_ray = False
        if not ray.is_initialized():
            self._connect(ray, workers)
        self._remote = ray.remote(_run_unit)
        self._bridge: GatewayBridge | None = None
        self.link: BridgeLink | None = None
        self._refs: dict[Future, Any] = {}
        self._shipped: dict[str, Any] = {}  # folder path -> ObjectRef of its packed files
        self._lock = threading.Lock()

    def _connect(self, ray: Any, workers: int) -> None:
        address = self.settings.address or os.environ.get("RAY_ADDRESS") or "auto"
        common = {"log_to_driver": False, "logging_level": logging.WARNING, "namespace": "clade"}
        _probe(address)
        try:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                         **common)
            else:
                ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RayExecutorError(
                f"cannot connect to the Ray cluster at {address!r} ({first}): start one with `ray start --head` "
                "(README, Scale-out), or give its head's address with --ray-address HOST:6379 (ray.address)"
            ) from None
        self._owns_ray = True

    # -- the gateway ---------------------------------------------------------------
    def attach_gateway(self, gateway: Gateway) -> None:
        """Open the bridge workers reach the run's gateway through."""
        socket_path = gateway.config.socket_path
        if socket_path is None:
            raise RayExecutorError("the ray executor needs the gateway to listen on a Unix socket")
        host = self.settings.gateway_host or _ray().util.get_node_ip_address()
        try:
            self._bridge = GatewayBridge(socket_path, host, self.settings.gateway_port).start()
        except OSError as exc:
            raise RayExecutorError(
                f"the gateway bridge cannot listen on {host}:{self.settings.gateway_port} ({exc.strerror or exc}): "
                "set ray.gateway_host to an address of this machine that the workers reach, "
                "and ray.gateway_port to a free port (0: any)"
            ) from None
        self.link = self._bridge.link
        log.info("workers reach the gateway through %s", self.link.address)

    # -- units ---------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], unit: Unit, /) -> Future:
        options: dict[str, Any] = {
            "name": unit.name,
            "num_cpus": self.settings.task_cpus,
            "max_retries": self.settings.max_retries,
            "retry_exceptions": list(RETRIED_ERRORS),
            "scheduling_strategy": "SPREAD",
        }
        if self.settings.resources:
            options["resources"] = dict(self.settings.resources)
        folders = unit.folders()
        # Object refs as top-level arguments: Ray hands the worker their bytes (not so inside a container).
        ref = self._remote.options(**options).remote(fn, self.link, unit, list(folders),
                                                     *(self._ship(folder) for folder in folders.values()))
        future = ref.future()
        with self._lock:
            self._refs[future] = ref
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._refs.pop(future, None)

    def _ship(self, folder: str | os.PathLike[str]) -> Any:
        """A driver folder's files in the object store, packed once per run."""
        key = str(folder)
        with self._lock:
            ref = self._shipped.get(key)
        if ref is None:
            ref = _ray().put(pack_code(Path(folder)))
            with self._lock:
                self._shipped[key] = ref
        return ref

    def shutdown(self) -> None:
        ray = _ray()
        with self._lock:
            pending = [ref for future, ref in self._refs.items() if not future.done()]
            self._shipped.clear()
        for ref in pending:  # left pending in the archive: resume runs them again
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or the cluster is gone
                pass
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False


def _probe(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nothing listens on (ray.init would wait for it for ever)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, local, ray://...: Ray's own checks answer at once
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayExecutorError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start its head there with "
            "`ray start --head --port PORT` (README, Scale-out), or give the right --ray-address"
        ) from None


# -- on the worker ---------------------------------------------------------------------
def _run_unit(fn: Callable[..., Any], link: BridgeLink | None, unit: Unit, names: list[str], *packed: bytes) -> Any:
    """One unit on a Ray worker: local paths for the folders that travelled, the relay for the gateway."""
    started = time.monotonic()
    _reap_dead_sandboxes()
    with tempfile.TemporaryDirectory(prefix="clade-unit-") as tmp:
        if link is not None:
            unit = unit.at_socket(ensure_relay(link))
        if names:
            unit = unit.with_folders({name: str(unpack_code(data, Path(tmp) / name)) for name, data in zip(names, packed)})
        result = fn(unit)
    _stamp(result, time.monotonic() - started)
    return result


def worker_info(seconds: float | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        import ray

        info["node_id"] = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - not in a Ray worker
        pass
    if seconds is not None:
        info["seconds"] = round(seconds, 2)
    return info


def _stamp(result: Any, seconds: float) -> None:
    info = worker_info(seconds)
    details = getattr(result, "details", None)
    if isinstance(details, dict):
        details["worker"] = info
    elif isinstance(getattr(result, "logs", None), dict):
        result.logs["worker.json"] = json.dumps(info, indent=2)


def _reap_dead_sandboxes() -> None:
    """Containers of a worker that died on this machine (a unit retried here, say)."""
    try:
        from sandbox.client import get_client
        from sandbox.reaper import reap_orphans

        reap_orphans(get_client())
    except Exception as exc:  # noqa: BLE001 - the unit's own sandbox start reports a broken Docker
        log.debug("could not look for dead workers' sandboxes: %s", exc)
