"""Choosing the executor, and what the ray executor refuses (no Ray cluster needed)."""

from __future__ import annotations

import socket
import time

import pytest

from archive import Archive
from evolve.config import RayConfig, validate_config
from evolve.executor import LocalExecutor, make_executor
from evolve.ray_executor import RayExecutorError, _probe, preflight, require_shared_archive
from evolve.runs import create_run
from tests.evolve.conftest import engine_config
from tests.evolve.test_run_cli import clade, write_config


def test_the_executor_is_part_of_a_runs_configuration(scripted_world) -> None:
    assert engine_config(scripted_world).executor == "local"
    config = engine_config(scripted_world, executor="ray", ray={"address": "10.0.0.1:6379", "max_retries": 5})
    assert config.ray == RayConfig(address="10.0.0.1:6379", max_retries=5)
    with pytest.raises(Exception, match="executor"):
        validate_config({"executor": "slurm"})
    with pytest.raises(Exception, match="ray.gateway"):
        validate_config({"ray": {"gateway": "x"}})  # unknown keys are errors
    executor = make_executor(engine_config(scripted_world))
    assert isinstance(executor, LocalExecutor) and executor.runs_here
    executor.shutdown()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ray_refuses_a_sqlite_archive(archive: Archive, scripted_world, tmp_path) -> None:
    config = engine_config(scripted_world, executor="ray")
    with pytest.raises(RayExecutorError, match="CLADE_DATABASE_URL=postgresql"):
        create_run(archive, config)
    assert archive.repo.list_runs() == []  # refused before anything was written
    with pytest.raises(RayExecutorError, match="PostgreSQL"):
        make_executor(config, archive)  # `resume` of a run stored elsewhere
    require_shared_archive("postgresql+psycopg://clade@db.example/clade")  # accepted, without connecting

    path = write_config(tmp_path / "run.yaml", scripted_world)
    refused = clade("run", "start", str(path), "--executor", "ray")
    assert refused.returncode == 2 and "CLADE_DATABASE_URL" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wrong = clade("run", "start", str(path), "--executor", "local", "--ray-address", "10.0.0.1:6379")
    assert wrong.returncode == 2 and "--ray-address goes with --executor ray" in wrong.stderr
    bogus = clade("run", "start", str(path), "--executor", "slurm")
    assert bogus.returncode == 2 and "choose local or ray" in bogus.stderr
    assert archive.repo.list_runs() == []


def test_a_head_that_does_not_answer_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    started = time.monotonic()
    with pytest.raises(RayExecutorError, match=f"no Ray cluster answers at {address}"):
        _probe(address)
    assert time.monotonic() - started < 15
    _probe("auto")  # left to Ray, which answers at once
    _probe("ray://head:10001")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_start_checks_the_head_before_writing(archive: Archive, scripted_world) -> None:
    config = engine_config(scripted_world, executor="ray", ray={"address": "127.0.0.1:1"})
    with pytest.raises(RayExecutorError, match="no Ray cluster answers"):
        preflight(archive, config.ray)
    with pytest.raises(RayExecutorError, match="no Ray cluster answers"):
        create_run(archive, config)
    assert archive.repo.list_runs() == []
