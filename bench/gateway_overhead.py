"""What the gateway adds to a model call.

p50 and p95 latency of one chat-completions call straight to a backend (the
scripted model server, answering at once) and through the gateway to the
same backend (token check, budget reservation, litellm, accounting into a
SQLite archive), at 1 and 16 concurrent callers, measured in the same run.
Through the gateway is measured over its Unix socket (as sandboxes call it)
and over loopback TCP. Target: under 5 ms added at p50.

The model server and the gateway each run in a process of their own, the
callers in this one, as in production (callers are sandboxes).

    python bench/gateway_overhead.py [--calls 400] [--json]

Callers are threads with keep-alive HTTP clients; each configuration gets a
warm-up first. The gateway's per-backend concurrency limit is raised above
the callers' count so that it measures overhead, not queueing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive import CladeHome, open_archive  # noqa: E402
from llm.config import BackendConfig, GatewayConfig  # noqa: E402
from llm.gateway import Gateway  # noqa: E402
from llm.uds import http_client, unix_base_url  # noqa: E402

BODY = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "You are a coding agent. " * 20},
        {"role": "user", "content": "Fix the failing test in tests/test_parser.py. " * 10},
    ],
    "max_tokens": 256,
}


def measure(base_url: str, token: str | None, callers: int, calls: int, warmup: int) -> list[float]:
    """Latencies (s) of `calls` calls spread over `callers` threads."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers)
    share = max(calls // callers, 1)

    def one_caller() -> None:
        mine: list[float] = []
        with http_client(base_url, headers=headers, timeout=60) as client:
            for _ in range(max(warmup // callers, 1)):
                client.post("/chat/completions", json=BODY).raise_for_status()
            barrier.wait()
            for _ in range(share):
                started = time.perf_counter()
                response = client.post("/chat/completions", json=BODY)
                mine.append(time.perf_counter() - started)
                response.raise_for_status()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=one_caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "n": len(latencies)}


def serve_gateway(backend_url: str, home: Path, with_archive: bool) -> None:
    """The gateway in a process of its own (as in production, where callers
    are sandboxes): prints its addresses and a token, serves until stdin closes."""
    archive = open_archive(CladeHome(home))
    run = archive.repo.create_run("gateway overhead bench", {})
    repo = archive.repo if with_archive else None
    backend = BackendConfig(name="m", model="hosted_vllm/scripted", api_base=backend_url, max_concurrency=64)
    config = GatewayConfig(backends=[backend], socket_path=home / "gw.sock", tcp_port=0)
    with Gateway(config, repo=repo) as gateway:
        token = gateway.issue_token(run_id=run.id, purpose="bench")
        print(json.dumps({"socket": unix_base_url(home / "gw.sock"), "tcp": gateway.base_url, "token": token}))
        sys.stdout.flush()
        sys.stdin.read()
        gateway.flush()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"archive_rows": len(archive.repo.llm_calls(run_id=run.id)),
                      "gateway_cpu_s": usage.ru_utime + usage.ru_stime}))  # fmt: skip
    archive.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="measured calls per configuration")
    parser.add_argument("--warmup", type=int, default=48)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--no-archive", action="store_true", help="the gateway records no rows (to see their cost)")
    parser.add_argument("--serve-gateway", metavar="BACKEND_URL", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_gateway:
        serve_gateway(args.serve_gateway, args.home, not args.no_archive)
        return {}

    results: dict[str, Any] = {
        "calls": args.calls,
        "archive": not args.no_archive,
        "target_added_p50_ms": 5.0,
        "rows": [],
    }
    reply = {
        "content": "Here is the fix: change `<=` to `<` on line 12.",
        "usage": {"prompt_tokens": 120, "completion_tokens": 16},
    }
    with tempfile.TemporaryDirectory(prefix="clade-bench-") as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps({"default": reply}))
        model = subprocess.Popen([sys.executable, "-m", "tests.support.scripted_server", "--script", str(script)],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
        gateway = None
        try:
            backend_url = json.loads(model.stdout.readline())["base_url"]  # type: ignore[union-attr]
            gateway = subprocess.Popen(
                [sys.executable, __file__, "--serve-gateway", backend_url, "--home", str(Path(tmp) / "home")]
                + (["--no-archive"] if args.no_archive else []),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            addresses = json.loads(gateway.stdout.readline())  # type: ignore[union-attr]
            routes = {
                "direct": (backend_url, None),
                "gateway_socket": (addresses["socket"], addresses["token"]),
                "gateway_tcp": (addresses["tcp"], addresses["token"]),
            }
            for callers in (1, 16):
                row: dict[str, Any] = {"callers": callers}
                for name, (url, key) in routes.items():
                    row[name] = percentiles(measure(url, key, callers, args.calls, args.warmup))
                direct = row["direct"]["p50_ms"]
                for name in ("gateway_socket", "gateway_tcp"):
                    row[name]["added_p50_ms"] = row[name]["p50_ms"] - direct
                    row[name]["ratio_p50"] = row[name]["p50_ms"] / direct
                results["rows"].append(row)
            gateway.stdin.close()  # type: ignore[union-attr]
            results.update(json.loads(gateway.stdout.readline()))  # type: ignore[union-attr]
            through_gateway = sum(row[n]["n"] + args.warmup for row in results["rows"] for n in routes if n != "direct")
            results["gateway_cpu_ms_per_call"] = results["gateway_cpu_s"] * 1000 / through_gateway
        finally:
            for process in (gateway, model):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)

    if args.json:
        print(json.dumps(results, indent=2))
        return results
    print(f"{'callers':>7}  {'route':<15} {'p50 ms':>8} {'p95 ms':>8} {'added p50':>10} {'ratio':>6}")
    for row in results["rows"]:
        for name in ("direct", "gateway_socket", "gateway_tcp"):
            cell = row[name]
            added = f"{cell['added_p50_ms']:+.2f}" if "added_p50_ms" in cell else ""
            ratio = f"{cell['ratio_p50']:.2f}x" if "ratio_p50" in cell else ""
            print(f"{row['callers']:>7}  {name:<15} {cell['p50_ms']:8.2f} {cell['p95_ms']:8.2f} {added:>10} {ratio:>6}")
    print(f"target: under {results['target_added_p50_ms']:g} ms added at p50; "
          f"{results.get('archive_rows')} calls recorded in the archive")  # fmt: skip
    print(
        f"gateway CPU: {results['gateway_cpu_ms_per_call']:.2f} ms a call (start-up included), "
        f"whatever else loads the machine"
    )
    return results


if __name__ == "__main__":
    main()
