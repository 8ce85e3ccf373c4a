"""One pass of the engine's loop on a 10 000-node run, against the policy decision alone.

A pass (`RunEngine._pass`) is what the driver does each time round its loop:
check its lease, read the run's status and budget, decide and write the next
evaluation's row (with the random state) and dispatch it, then record what came
back (its row, its event, the incremental counts and the best belief) and
report progress. The work itself is not in it: the executor here hands back a
finished result at once, and the node's packed code is prepared once, so what
is timed is the loop's bookkeeping on a real SQLite archive. Before the counts
and the best belief were kept incrementally, progress alone recomputed the
best belief over every node: 1.06 s at 3 000 nodes. Goal: a pass under 10 ms
at 10 000 nodes.

    python bench/engine_loop.py [--nodes 10000] [--passes 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import insert, update

from archive import CladeHome, open_archive
from archive.models import Evaluation, Node, NodeStatus, Outcome, Run
from evaluator.agents import seed_agent_dir
from evaluator.benchmarks import builtin
from evolve.config import validate_config
from evolve.engine import RunEngine
from evolve.policies import Budget
from evolve.units import EvaluateResult
from llm.config import GatewayConfig
from llm.gateway import Gateway

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_decision import time_per_call  # noqa: E402  # the same median timer as the policy bench

EVALUATIONS_PER_NODE = 5


class InstantExecutor:
    """Hands back every evaluation as finished (unresolved) the moment it is submitted."""

    runs_here = False  # no sandboxes of ours to reap

    def attach_gateway(self, gateway: Gateway) -> None:
        pass

    def submit(self, fn, unit, /) -> Future:  # type: ignore[no-untyped-def]
        done: Future = Future()
        done.set_result(EvaluateResult(unit.evaluation_id, Outcome.UNRESOLVED, "bench: not run", logs={}))
        return done

    def shutdown(self) -> None:
        pass


def populate(archive, run_id: int, root_id: int, commit: str, size: int, tasks: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A random-recursive tree of `size` valid nodes, each with finished evaluations."""
    import random

    rng = random.Random(0)
    ids = [root_id]
    with archive.db.session() as s:
        for i in range(1, size):
            parent = ids[rng.randrange(len(ids))]
            node_id = s.execute(insert(Node).values(run_id=run_id, parent_id=parent, commit=commit,
                                                    status=NodeStatus.VALID).returning(Node.id)).scalar_one()
            ids.append(node_id)
        rows = [{"run_id": run_id, "node_id": node_id, "task_id": task, "attempt": 0,
                 "outcome": Outcome.RESOLVED if rng.random() < 0.3 else Outcome.UNRESOLVED}
                for node_id in ids for task in rng.sample(tasks, EVALUATIONS_PER_NODE)]
        s.execute(insert(Evaluation), rows)
        s.execute(update(Run).where(Run.id == run_id).values(nodes_count=size, evaluations_count=len(rows)))


def engine_for(home: Path, size: int) -> RunEngine:
    tasks = builtin.load(None, None)
    config = validate_config({
        "name": "bench-engine-loop", "workers": 1,
        "policy": {"name": "hgm", "params": {"root_evaluations": EVALUATIONS_PER_NODE}},
        "benchmark": {"name": "builtin", "subset": "full"},
        "models": {"backends": [{"name": "local", "model": "hosted_vllm/none", "api_base": "http://127.0.0.1:9"}]},
        "budget": {"task_evaluations": 1_000_000},
    })
    archive = open_archive(CladeHome(home))
    run, root = archive.create_run(config.name, config.model_dump(mode="json"), seed_agent_dir())
    populate(archive, run.id, root.id, root.commit, size, [t.instance_id for t in tasks])
    gateway = Gateway(GatewayConfig(backends=config.models.backends, socket_path=home / "gw.sock"))  # never started
    engine = RunEngine(archive, run.id, config, tasks, executor=InstantExecutor(), gateway=gateway,
                       on_progress=lambda progress: None)  # a live view is attached: progress is computed
    packed = engine._packed_code(root.id)
    engine._packed_code = lambda node_id: packed  # type: ignore[method-assign] # the unit's payload, not the loop's
    archive.repo.mark_running(run.id)
    return engine


def median_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    return 1000 * time_per_call(fn, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clade-bench-loop-") as tmp:
        engine = engine_for(Path(tmp), args.nodes)
        started = time.monotonic()
        pass_ms = median_ms(lambda: engine._pass(started, False), args.passes)
        budget = Budget(1_000_000, 0, 1)
        decision_ms = median_ms(lambda: engine.policy.next_action(engine.state, engine.rng, budget), args.passes)
        report_ms = median_ms(engine._report, args.passes)
        engine.close()
        engine.archive.close()
    result = {"nodes": args.nodes, "passes": args.passes, "pass_ms": round(pass_ms, 3),
              "decision_ms": round(decision_ms, 3), "report_ms": round(report_ms, 3),
              "pass_over_decision": round(pass_ms / decision_ms, 1), "goal_pass_ms": 10.0}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.nodes} nodes: one loop pass {pass_ms:.2f} ms (goal < 10), the policy decision alone "
              f"{decision_ms:.3f} ms, progress report {report_ms:.3f} ms; pass / decision = "
              f"{pass_ms / decision_ms:.1f}x")
    sys.exit(0)


if __name__ == "__main__":
    main()
