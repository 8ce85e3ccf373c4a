"""How long `clade run status` takes, against `clade --version` in the same run.

Both start the same interpreter and the same Typer app; `--version` stops
there, so the ratio is what a status costs on top of starting the CLI: the
archive opened and a 10 000-node run's counters, pending work, tree and
outcomes read. It once imported the engine (and litellm) to ask whether a
process was alive: 7-10 s. Goal: a ratio of at most 1.5.

    python bench/cli_latency.py [--nodes 10000] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_scale import populate  # noqa: E402

from archive import CladeHome, open_archive  # noqa: E402

CLADE = str(Path(sys.executable).with_name("clade"))


def seconds(args: list[str], env: dict[str, str], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([CLADE, *args], env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clade-bench-cli-") as home:
        env = {**os.environ, "CLADE_HOME": home}
        env.pop("CLADE_DATABASE_URL", None)
        archive = open_archive(CladeHome(Path(home)))
        run_id = populate(archive, args.nodes, 5 * args.nodes)
        archive.close()
        version = seconds(["--version"], env, args.repeats)
        status = seconds(["run", "status", str(run_id), "--json"], env, args.repeats)
    result = {"nodes": args.nodes, "version_s": round(version, 3), "status_s": round(status, 3),
              "ratio": round(status / version, 2), "goal_ratio": 1.5}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"clade --version {version:.2f} s, clade run status (a {args.nodes}-node run) {status:.2f} s: "
              f"{status / version:.2f}x (goal <= 1.5)")


if __name__ == "__main__":
    main()
