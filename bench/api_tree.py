"""How fast the API hands over a 10 000-node tree.

Fills a fresh archive (SQLite under a temporary CLADE_HOME) with a random
10 000-node tree and 100 000 finished evaluations by direct bulk inserts
(`bench/archive_scale.py`'s `populate`), starts `clade serve` on a free
loopback port, and times `GET /api/runs/{id}/tree` over HTTP — every node
with parent, status, own and clade counts, score and CMP estimate, in
columns — against the same rows fetched and serialised with no framework
(`api.services.tree_json`: `archive.tree.tree_columns`, then `json.dumps`),
measured in the same run. Also shown: the archive's object tree
(`ArchiveRepository.tree()`: the same columns turned into one `TreeNode`
per node) serialised the same way. Target: the HTTP GET in under 200 ms.

    python bench/api_tree.py [--nodes 10000] [--evaluations 100000] [--repeats 21] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive_scale import populate  # noqa: E402  (bench/archive_scale.py)

from api import services  # noqa: E402
from api.server import start_background_server  # noqa: E402
from archive import CladeHome, open_archive  # noqa: E402

TARGET_S = 0.2


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clade-api-bench-") as tmp:
        home = CladeHome(Path(tmp))
        archive = open_archive(home)
        start = time.perf_counter()
        run_id = populate(archive, args.nodes, args.evaluations)
        insert_s = time.perf_counter() - start
        # The insert left a large heap behind; without this the baseline pays for
        # garbage collections the fresh server process never sees.
        gc.collect()
        gc.freeze()

        def no_framework() -> bytes:
            return services.tree_json(archive, run_id)

        def object_tree() -> bytes:
            nodes = archive.repo.tree(run_id)
            return json.dumps({"run_id": run_id, "nodes": [n.as_dict() for n in nodes.values()]},
                              separators=(",", ":")).encode()

        server = start_background_server(home, log_path=Path(tmp) / "serve.log")
        try:
            with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
                def http_get() -> bytes:
                    response = client.get(f"/api/runs/{run_id}/tree")
                    response.raise_for_status()
                    return response.content

                body = http_get()
                tree = json.loads(body)
                assert tree["count"] == args.nodes and tree["clade_total"][0] == args.evaluations, "rows lost"
                assert body == no_framework(), "the API and the baseline serialise different rows"
                api_times = timed(http_get, args.repeats)
        finally:
            server.stop()
        base_times = timed(no_framework, args.repeats)
        object_times = timed(object_tree, max(args.repeats // 3, 3))
        archive.close()

    api_s, base_s, object_s = (statistics.median(t) for t in (api_times, base_times, object_times))
    result = {
        "nodes": args.nodes,
        "evaluations": args.evaluations,
        "insert_s": round(insert_s, 2),
        "response_bytes": len(body),
        "api_get_tree_median_s": round(api_s, 4),
        "api_get_tree_p90_s": round(sorted(api_times)[int(0.9 * (len(api_times) - 1))], 4),
        "no_framework_median_s": round(base_s, 4),
        "ratio_vs_no_framework": round(api_s / base_s, 3),
        "archive_object_tree_json_median_s": round(object_s, 4),
        "target_s": TARGET_S,
        "meets_target": api_s < TARGET_S,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"sqlite: {args.nodes} nodes, {args.evaluations} evaluations (inserted in {insert_s:.1f} s), "
          f"tree body {len(body) / 1024:.0f} KiB")
    print(f"  GET /api/runs/ID/tree over HTTP      : {api_s * 1000:8.1f} ms (median of {args.repeats})")
    print(f"  same rows + json.dumps, no framework : {base_s * 1000:8.1f} ms")
    print(f"  ratio                                : {api_s / base_s:8.2f}x")
    print(f"  (archive's object tree + json.dumps  : {object_s * 1000:8.1f} ms)")
    print(f"  target < {TARGET_S * 1000:.0f} ms: {'met' if api_s < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
