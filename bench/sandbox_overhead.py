"""How much a sandbox round trip costs next to a plain `docker run`.

One round trip = create and start a hardened `DockerSandbox`, exec `true`
in it, and remove it (close() returns once Docker has removed it). The
baseline is `docker run --rm IMAGE true` with the same image, measured in
the same run and interleaved with the sandbox trials so that drift in the
machine's load hits both alike. Both are measured one at a time and with 4
running in parallel (each thread times its own round trips).

Target (issue 3): median sandbox round trip <= 1.0x the plain docker run,
and under 1 s.

    python bench/sandbox_overhead.py [--runs 30] [--parallel 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from sandbox.factory import open_sandbox
from sandbox.errors import SandboxError
from sandbox.image import require_image


def sandbox_round_trip(image: str) -> dict[str, float]:
    started = time.perf_counter()
    sb = open_sandbox(image)
    created = time.perf_counter()
    result = sb.exec(["true"], timeout=60)
    executed = time.perf_counter()
    sb.close()
    done = time.perf_counter()
    if not result.ok:
        raise RuntimeError(f"`true` failed in the sandbox: {result}")
    return {"total": done - started, "create_start": created - started, "exec": executed - created,
            "remove": done - executed}


def docker_run(image: str) -> dict[str, float]:
    started = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", image, "true"], check=True, capture_output=True)
    return {"total": time.perf_counter() - started}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    out = {"median": statistics.median(s["total"] for s in samples),
           "p95": percentile([s["total"] for s in samples], 0.95), "n": len(samples)}
    for phase in ("create_start", "exec", "remove"):
        if phase in samples[0]:
            out[f"{phase}_median"] = statistics.median(s[phase] for s in samples)
    return out


def in_parallel(fn: Callable[[], dict[str, float]], workers: int, rounds: int) -> list[dict[str, float]]:
    samples: list[dict[str, float]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(rounds):
            try:
                sample = fn()
            except BaseException as exc:  # noqa: BLE001 - reported after the threads end
                errors.append(exc)
                return
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return samples


def measure(image: str, runs: int, parallel: int, warmup: int) -> dict[str, object]:
    for _ in range(warmup):
        sandbox_round_trip(image)
        docker_run(image)
    sequential: dict[str, list[dict[str, float]]] = {"sandbox": [], "docker_run": []}
    for _ in range(runs):  # interleaved
        sequential["sandbox"].append(sandbox_round_trip(image))
        sequential["docker_run"].append(docker_run(image))
    concurrent: dict[str, list[dict[str, float]]] = {"sandbox": [], "docker_run": []}
    rounds = max(1, runs // parallel)
    for _ in range(2):  # two alternating batches of each
        concurrent["sandbox"] += in_parallel(lambda: sandbox_round_trip(image), parallel, max(1, rounds // 2))
        concurrent["docker_run"] += in_parallel(lambda: docker_run(image), parallel, max(1, rounds // 2))
    report: dict[str, object] = {"image": image, "runs": runs, "parallel": parallel}
    for mode, data in (("sequential", sequential), (f"parallel_{parallel}", concurrent)):
        sb, dr = summary(data["sandbox"]), summary(data["docker_run"])
        report[mode] = {"sandbox": sb, "docker_run": dr, "ratio_median": sb["median"] / dr["median"],
                        "ratio_p95": sb["p95"] / dr["p95"]}
    seq = report["sequential"]
    assert isinstance(seq, dict)
    report["target_met"] = seq["ratio_median"] <= 1.0 and seq["sandbox"]["median"] < 1.0
    return report


def print_table(report: dict[str, object]) -> None:
    print(f"sandbox round trip (create+start, exec true, remove) vs `docker run --rm {report['image']} true`")
    print(f"{'mode':<12} {'sandbox median':>15} {'p95':>7} {'docker run median':>18} {'p95':>7} "
          f"{'ratio median':>13} {'ratio p95':>10}")
    for mode, data in report.items():
        if not isinstance(data, dict):
            continue
        sb, dr = data["sandbox"], data["docker_run"]
        print(f"{mode:<12} {sb['median']:>14.3f}s {sb['p95']:>6.3f}s {dr['median']:>17.3f}s {dr['p95']:>6.3f}s "
              f"{data['ratio_median']:>12.2f}x {data['ratio_p95']:>9.2f}x")
        print(f"{'':<12} sandbox phases (median): create+start {sb['create_start_median']:.3f}s, "
              f"exec {sb['exec_median']:.3f}s, remove {sb['remove_median']:.3f}s")
    verdict = "met" if report["target_met"] else "NOT met"
    print(f"target (sequential median <= 1.0x docker run, < 1 s): {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="round trips per kind and mode")
    parser.add_argument("--parallel", type=int, default=4, help="concurrent round trips in the parallel mode")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--image", default=None, help="image (default: the runtime sandbox image)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    try:
        image = require_image(args.image)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = measure(image, args.runs, args.parallel, args.warmup)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
