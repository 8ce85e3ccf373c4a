"""Evaluations per minute with the `local` and the `ray` executor on this
machine at equal parallelism, and a paper estimate for 10 and 100 machines.

Both executors run the very same evaluation units (`evolve.evaluation`):
the seed agent on built-in tasks in real sandboxes, its model a scripted
server behind the real gateway that has it apply the gold patch (every
evaluation must resolve: a fast wrong answer is no answer). The driver
keeps P units in flight, as the engine does.

* **local**: `LocalExecutor(P)`, threads of this process.
* **ray**: a real Ray cluster on this machine (a head that runs no work and
  `--nodes` worker nodes sharing P CPUs), `RayExecutor`: units travel as
  Ray tasks, sandboxes reach the gateway through the worker's relay and the
  driver's bridge.

Each executor first runs one untimed round of P units (worker start-up,
imports); Ray's cold start is reported apart. Reported: evaluations per
minute of each, the ratio ray/local (1.0 = no overhead), and per-task costs:
the unit's own time on its worker, the round trip the driver sees (the
difference is the executor's overhead), and the driver's CPU seconds per
evaluation (dispatch, futures, gateway, bridge) plus its archive work per
evaluation (the engine's rows and events, materialising and packing the
node's code; measured on PostgreSQL when Debian's server is installed).

The estimate: with M machines of S unit slots each, throughput is the
smaller of what the workers can do, M·S·60 / (round trip on Ray), and what
one driver can dispatch and record, 60 / (driver CPU + archive work per
evaluation). The model backend is assumed to scale with the machines (the
scripted model answers at once; a real run is usually bound by it).

    python bench/scaleout.py [--evaluations 10] [--parallel 2] [--nodes 2] [--machines 10,100]
                             [--slots-per-machine 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres_server, tests' helpers

from archive import CladeHome, Outcome, open_archive  # noqa: E402
from evaluator.contract import AgentLimits, ModelAccess  # noqa: E402
from evaluator.task_run import EvalOptions  # noqa: E402
from evaluator.benchmarks import builtin  # noqa: E402
from evaluator.task import Task  # noqa: E402
from evolve.evaluation import EvaluateUnit, run_evaluation  # noqa: E402
from evolve.executor import LocalExecutor  # noqa: E402
from evaluator.agents import seed_agent_dir, write_agent_code  # noqa: E402
from evolve.units import pack_code  # noqa: E402
from llm.config import BackendConfig, GatewayConfig  # noqa: E402
from llm.gateway import Gateway  # noqa: E402
from sandbox.image import build  # noqa: E402
from sandbox.limits import SandboxLimits  # noqa: E402
from tests.support.script import ChatRequest, Reply  # noqa: E402
from tests.support.scripted_server import ScriptedServer  # noqa: E402

OBJECT_STORE = 80 * 2**20


def gold_responder(tasks: list[Task]):
    """The agent applies the task's gold patch with one bash call, then finishes."""

    def responder(request: ChatRequest) -> Reply:
        messages = request.messages
        if any(m.get("role") == "tool" for m in messages):
            return Reply.tool_call("finish", {"summary": "done"})
        text = messages[1].get("content") or "" if len(messages) > 1 else ""
        for task in tasks:
            if task.problem_statement.strip()[:200] in text:
                command = f"git apply --whitespace=nowarn - <<'CLADE_EOF'\n{task.patch}CLADE_EOF"
                return Reply.tool_call("bash", {"command": command})
        return Reply.tool_call("finish", {"summary": "unknown task"})

    return responder


class Bench:
    def __init__(self, tasks: list[Task], gateway: Gateway, code: bytes) -> None:
        self.tasks, self.gateway, self.code = tasks, gateway, code
        self.count = 0

    def unit(self) -> EvaluateUnit:
        self.count += 1
        task = self.tasks[self.count % len(self.tasks)]
        token = self.gateway.issue_token(evaluation_id=self.count, purpose="solve")
        return EvaluateUnit(
            evaluation_id=self.count, node_id=1, task=task, agent_code=self.code,
            options=EvalOptions(model=ModelAccess(str(self.gateway.config.socket_path), "local", token),
                                limits=SandboxLimits(memory="1g"), agent_limits=AgentLimits(max_steps=5, seconds=120),
                                tests_timeout=60),
        )

    def drive(self, executor: Any, evaluations: int, parallel: int) -> dict[str, Any]:
        """Keep `parallel` units in flight until `evaluations` are done, as the engine does."""
        in_flight: dict[Any, float] = {}
        round_trips, worker_s, outcomes = [], [], []
        submitted = 0
        wall0, cpu0 = time.monotonic(), time.process_time()
        while submitted < evaluations or in_flight:
            while submitted < evaluations and len(in_flight) < parallel:
                in_flight[executor.submit(run_evaluation, self.unit())] = time.monotonic()
                submitted += 1
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in done:
                round_trips.append(time.monotonic() - in_flight.pop(future))
                result = future.result()
                worker_s.append(result.duration_s)
                outcomes.append(result.outcome)
        wall = time.monotonic() - wall0
        failed = [o.value for o in outcomes if o != Outcome.RESOLVED]
        if failed:
            raise SystemExit(f"{len(failed)} of {evaluations} evaluations did not resolve: {failed}")
        return {
            "evaluations": evaluations,
            "wall_s": round(wall, 2),
            "per_minute": round(evaluations * 60 / wall, 2),
            "unit_s": round(statistics.mean(worker_s), 2),
            "round_trip_s": round(statistics.mean(round_trips), 2),
            "overhead_s": round(statistics.mean(round_trips) - statistics.mean(worker_s), 3),
            "driver_cpu_s": round((time.process_time() - cpu0) / evaluations, 4),
        }


def archive_work(samples: int = 20) -> dict[str, Any]:
    """The engine's archive work for one evaluation, on PostgreSQL if it can be had."""
    server = None
    try:
        from tests.postgres_server import PostgresServer

        server = PostgresServer().start()
        url, database = server.create_database("clade_bench_scaleout"), "postgresql"
    except Exception:  # noqa: BLE001 - no Debian PostgreSQL here: SQLite, said so
        url, database = None, "sqlite"
    saved = os.environ.get("CLADE_DATABASE_URL")
    try:
        with tempfile.TemporaryDirectory(prefix="clade-bench-home-") as home:
            if url:
                os.environ["CLADE_DATABASE_URL"] = url
            archive = open_archive(CladeHome(Path(home)))
            run, root = archive.create_run("scaleout bench", {}, seed_agent_dir())
            repo = archive.repo
            times, code_times = [], []
            for i in range(samples):
                started = time.perf_counter()
                repo.get_run(run.id)
                evaluation = repo.start_evaluation(root.id, f"bench-{i}")
                code_started = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    pack_code(write_agent_code(archive, root.id, Path(tmp)))
                code_times.append(time.perf_counter() - code_started)
                repo.append_event(run.id, "evaluation_started", {"evaluation_id": evaluation.id})
                repo.get_run(run.id)
                repo.llm_calls(run_id=run.id, evaluation_id=evaluation.id)
                repo.finish_evaluation(evaluation.id, Outcome.RESOLVED, duration_s=1.0, reason="bench",
                                       log_path=home, details={}, prompt_tokens=1, completion_tokens=1, cost_usd=0.0)
                repo.append_event(run.id, "evaluation_finished", {"evaluation_id": evaluation.id})
                repo.get_run(run.id)
                times.append(time.perf_counter() - started)
            archive.db.dispose()
    finally:
        if saved is None:
            os.environ.pop("CLADE_DATABASE_URL", None)
        else:
            os.environ["CLADE_DATABASE_URL"] = saved
        if server is not None:
            server.stop()
    return {"database": database, "per_evaluation_s": round(statistics.median(times), 4),
            "of_which_code_s": round(statistics.median(code_times), 4)}


def estimate(ray: dict, archive_s: float, machines: list[int], slots: int) -> list[dict[str, Any]]:
    driver_s = ray["driver_cpu_s"] + archive_s
    driver_bound = 60 / driver_s
    rows = []
    for m in machines:
        workers_bound = m * slots * 60 / ray["round_trip_s"]
        rows.append({
            "machines": m,
            "workers_bound_per_minute": round(workers_bound, 1),
            "driver_bound_per_minute": round(driver_bound, 1),
            "per_minute": round(min(workers_bound, driver_bound), 1),
            "bound_by": "workers" if workers_bound <= driver_bound else "driver",
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=10, help="timed evaluations per executor")
    parser.add_argument("--parallel", type=int, default=2, help="units in flight (both executors)")
    parser.add_argument("--nodes", type=int, default=2, help="Ray worker nodes sharing the parallelism")
    parser.add_argument("--machines", default="10,100", help="machine counts for the paper estimate")
    parser.add_argument("--slots-per-machine", type=int, default=None, help="units per machine (default: --parallel)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    if args.parallel % args.nodes:
        raise SystemExit("--parallel must be a multiple of --nodes (each node gets the same CPUs)")

    import ray
    from ray.cluster_utils import Cluster

    from evolve.config import RayConfig
    from evolve.ray_executor import RayExecutor

    build()
    tasks = builtin.load("small")
    with tempfile.TemporaryDirectory(prefix="clade-bench-") as tmp:
        code = pack_code(write_agent_code(None, None, Path(tmp) / "code"))
    socket_dir = Path(tempfile.mkdtemp(prefix="clade-bench-gw-"))
    socket_dir.chmod(0o755)
    results: dict[str, Any] = {"parallel": args.parallel, "nodes": args.nodes, "tasks": len(tasks),
                               "cpus": os.cpu_count()}
    with ScriptedServer(gold_responder(tasks)) as model:
        backend = BackendConfig(name="local", model="hosted_vllm/scripted", api_base=model.base_url, max_retries=0)
        with Gateway(GatewayConfig(backends=[backend], socket_path=socket_dir / "llm.sock")) as gateway:
            bench = Bench(tasks, gateway, code)

            say(f"local: {args.parallel} threads, warm-up round, then {args.evaluations} evaluations ...")
            local = LocalExecutor(args.parallel)
            bench.drive(local, args.parallel, args.parallel)
            results["local"] = bench.drive(local, args.evaluations, args.parallel)
            local.shutdown()
            say(f"  {results['local']}")

            say(f"ray: head + {args.nodes} worker nodes x {args.parallel // args.nodes} CPU ...")
            started = time.monotonic()
            cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 0, "include_dashboard": False, "object_store_memory": OBJECT_STORE})
            ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
            for _ in range(args.nodes):
                cluster.add_node(num_cpus=args.parallel // args.nodes, object_store_memory=OBJECT_STORE)
            cluster_s = time.monotonic() - started
            try:
                executor = RayExecutor(RayConfig(), args.parallel)
                executor.attach_gateway(gateway)
                warm = time.monotonic()
                bench.drive(executor, args.parallel, args.parallel)
                results["ray_cold_start"] = {"cluster_s": round(cluster_s, 1),
                                             "first_round_s": round(time.monotonic() - warm, 1)}
                results["ray"] = bench.drive(executor, args.evaluations, args.parallel)
                executor.shutdown()
            finally:
                ray.shutdown()
                cluster.shutdown()
            say(f"  {results['ray']}")
    shutil.rmtree(socket_dir, ignore_errors=True)

    say("archive work per evaluation (driver) ...")
    results["archive"] = archive_work()
    results["ratio_ray_over_local"] = round(results["ray"]["per_minute"] / results["local"]["per_minute"], 3)
    slots = args.slots_per_machine or args.parallel
    machines = [int(m) for m in args.machines.split(",") if m.strip()]
    results["estimate"] = {
        "slots_per_machine": slots,
        "driver_s_per_evaluation": round(results["ray"]["driver_cpu_s"] + results["archive"]["per_evaluation_s"], 4),
        "rows": estimate(results["ray"], results["archive"]["per_evaluation_s"], machines, slots),
    }

    if args.json:
        print(json.dumps(results, indent=2))
        return
    local, on_ray = results["local"], results["ray"]
    print(f"\nevaluations per minute at parallelism {args.parallel} ({len(tasks)} built-in tasks, gold answers):")
    for name, row in (("local", local), ("ray", on_ray)):
        print(f"  {name:6s} {row['per_minute']:7.2f}   unit {row['unit_s']:.2f} s, "
              f"round trip {row['round_trip_s']:.2f} s, driver CPU {row['driver_cpu_s']:.3f} s/eval")
    print(f"  ratio ray/local {results['ratio_ray_over_local']:.3f}  (executor overhead per task: "
          f"local {local['overhead_s']:.3f} s, ray {on_ray['overhead_s']:.3f} s)")
    cold = results["ray_cold_start"]
    print(f"  ray cold start: cluster {cold['cluster_s']} s, first round {cold['first_round_s']} s (not timed above)")
    print(f"  archive work per evaluation on {results['archive']['database']}: "
          f"{results['archive']['per_evaluation_s'] * 1000:.1f} ms "
          f"(of which materialising and packing the node's code {results['archive']['of_which_code_s'] * 1000:.1f} ms)")
    print(f"\npaper estimate ({slots} unit slots per machine, model backend assumed to keep up):")
    for row in results["estimate"]["rows"]:
        print(f"  {row['machines']:4d} machines: {row['per_minute']:8.1f} evaluations/min "
              f"(workers {row['workers_bound_per_minute']:.0f}, driver {row['driver_bound_per_minute']:.0f}; "
              f"bound by the {row['bound_by']})")


if __name__ == "__main__":
    main()
