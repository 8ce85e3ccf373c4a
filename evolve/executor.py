"""Where work units run. `local`: a thread pool in this process (each unit
drives its own Docker sandboxes). `ray` (evolve.ray_executor): Ray tasks on
the nodes of a cluster, each with its own Docker; same units, same futures."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from archive import Archive
    from evolve.config import RunConfig
    from evolve.units import Unit
    from llm.gateway import Gateway


class Executor(Protocol):
    # False when units run in other processes, whose sandboxes this process does not own.
    runs_here: bool

    def attach_gateway(self, gateway: Gateway) -> None:
        """Called once the run's gateway listens: a remote executor opens a way to it for its workers."""

    def submit(self, fn: Callable[..., Any], unit: Unit, /) -> Future: ...

    def shutdown(self) -> None: ...


class LocalExecutor:
    runs_here = True

    def attach_gateway(self, gateway: Gateway) -> None:
        """Units run here, where the gateway's socket already is."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clade-worker")

    def submit(self, fn: Callable[..., Any], unit: Unit, /) -> Future:
        return self._pool.submit(fn, unit)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(config: RunConfig, archive: Archive | None = None) -> Executor:
    """The executor a run's configuration names (`executor: local|ray`)."""
    if config.executor == "ray":
        from evolve.ray_executor import RayExecutor, require_shared_archive

        if archive is not None:
            require_shared_archive(archive)
        return RayExecutor(config.ray, config.workers)
    return LocalExecutor(config.workers)
