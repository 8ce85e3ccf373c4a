"""Time per policy decision on large trees: incremental counts vs recomputing
them from scratch.

For trees of 100, 1 000 and 10 000 nodes (random recursive trees, every
valid node evaluated on the same 10 tasks), each policy decides repeatedly on
the incrementally kept `TreeState`; the baseline rebuilds the state from the
raw rows (what a decision costs without incremental counts) and then decides.
The tree is set up so that every policy takes its expensive path: DGM, SICA,
greedy and random choose a parent among all finished nodes (no node owes an
evaluation: the task set is those 10 tasks); HGM is timed on both of its
paths over a 60-task set — Thompson sampling for an evaluation (alpha 0.6)
and for an expansion on clade counts (alpha 1.0). Target: one
decision on a 10 000-node tree under 10 ms.

    python bench/policy_decision.py [--sizes 100,1000,10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from evolve.policies import Budget, make_policy
from evolve.state import TreeState

TASKS = [f"t{i}" for i in range(60)]


def random_rows(size: int, seed: int = 0) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    nodes = [(0, None, True)] + [(i, int(rng.integers(i)), bool(rng.random() > 0.1)) for i in range(1, size)]
    evaluations = [
        (node_id, task, bool(rng.random() < 0.3)) for node_id, _, valid in nodes if valid for task in TASKS[:10]
    ]
    return nodes, evaluations


CASES = {  # label: (policy name, parameters, task set)
    "hgm-evaluate": ("hgm", {"alpha": 0.6}, TASKS),
    "hgm-expand": ("hgm", {"alpha": 1.0}, TASKS),
    "dgm": ("dgm", {"stage_sizes": [(10, 0.0)]}, TASKS[:10]),
    "sica": ("sica", {}, TASKS[:10]),
    "greedy": ("greedy", {}, TASKS[:10]),
    "random": ("random", {}, TASKS[:10]),
}


def time_per_call(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        nodes, evaluations = random_rows(size)
        budget = Budget(total=10 * len(evaluations), spent=len(evaluations))
        for label, (name, params, tasks) in CASES.items():
            state = TreeState.from_rows(tasks, nodes, evaluations)
            policy = make_policy(name, **params)
            rng = np.random.default_rng(0)
            action = policy.next_action(state, rng, budget)
            assert type(action).__name__ == ("Evaluate" if label == "hgm-evaluate" else "Expand"), (label, action)
            incremental = time_per_call(lambda: policy.next_action(state, rng, budget), args.repeats)
            scratch = time_per_call(
                lambda: policy.next_action(TreeState.from_rows(tasks, nodes, evaluations), rng, budget),
                max(3, args.repeats // 10),
            )
            results.append({"nodes": size, "policy": label, "decision_ms": round(incremental * 1000, 3),
                            "from_scratch_ms": round(scratch * 1000, 2), "speedup": round(scratch / incremental, 1)})
    if args.json:
        print(json.dumps({"target_ms_at_10000": 10, "results": results}, indent=2))
        return
    print(f"{'nodes':>6} {'policy':>13} {'decision ms':>12} {'from scratch ms':>16} {'speed-up':>9}")
    for r in results:
        print(f"{r['nodes']:>6} {r['policy']:>13} {r['decision_ms']:>12.3f} {r['from_scratch_ms']:>16.2f} {r['speedup']:>8.1f}x")
    worst = max(r["decision_ms"] for r in results if r["nodes"] == max(x["nodes"] for x in results))
    print(f"slowest decision on the largest tree: {worst:.3f} ms (target < 10 ms)")


if __name__ == "__main__":
    main()
