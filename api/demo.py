"""`make demo`: the whole product on a fresh machine, start to finish.

1. builds the sandbox image (offline: debootstrap + wheels, cached);
2. starts the embedded local model (SmolLM2-135M-Instruct on vLLM) unless
   one already answers, and leaves it running for later runs;
3. starts `clade serve` and prints the login link to watch the run live;
4. starts `examples/quick-local.yaml` through the REST API and follows it;
5. prints the tree and exports the best agent to a file it names.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console

from api.server import start_background_server
from archive import CladeHome, open_archive
from archive.errors import CladeError
from llm.local_server import LocalModelServer, answers

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "quick-local.yaml"
MODEL_PORT = 8000  # the api_base quick-local.yaml names


def main() -> int:
    console = Console()
    home = CladeHome.from_env()
    home.ensure_writable()

    console.rule("1. sandbox image")
    from sandbox.image import build

    tag = build(progress=lambda stage, message: console.print(f"  [{stage}] {message}", markup=False))
    console.print(f"  sandbox image: {tag}")

    console.rule("2. local model")
    api_base = f"http://127.0.0.1:{MODEL_PORT}/v1"
    if answers(api_base):
        console.print(f"  a model server already answers at {api_base}")
    else:
        console.print("  starting SmolLM2-135M-Instruct on vLLM (one to two minutes on 2 cores) ...")
        started = time.monotonic()
        LocalModelServer(home, port=MODEL_PORT, extra_args=["--enforce-eager"]).start()
        console.print(f"  ready in {time.monotonic() - started:.0f} s at {api_base} (stop it with `clade llm stop`)")

    console.rule("3. clade serve")
    from evolve.config import load_config

    server = start_background_server(home, backends=load_config(CONFIG).models.backends)  # the server offers them
    try:
        console.print(f"  web UI: {server.url}")
        console.print(f"  open this link to log in and watch the run live:\n  {server.login_url}", markup=False)

        console.rule("4. the run (examples/quick-local.yaml)")
        run = server.start_run(CONFIG)
        console.print(f"  run {run['id']} started over the API; following its events ...")
        started = time.monotonic()

        def show(event: dict) -> None:
            payload = ", ".join(f"{k}={v}" for k, v in (event.get("payload") or {}).items() if k != "reason")
            console.print(f"  {time.monotonic() - started:6.0f}s  {event['kind']:<22} {payload}", markup=False)

        final = server.wait(run["id"], on_event=show)
        console.print(f"  run {run['id']}: {final['status']} in {time.monotonic() - started:.0f} s")

        console.rule("5. the tree and the best agent")
        archive = open_archive(home)
        for node in archive.repo.tree(run["id"]).values():
            reason = archive.repo.get_node(node.id).failure_reason or ""
            console.print(f"  {'  ' * node.depth}node {node.id} [{node.status}] own {node.own_resolved}/"
                          f"{node.own_total} clade {node.clade_resolved}/{node.clade_total} {reason[:90]}",
                          markup=False)
        if final.get("best_node_id"):
            out = server.export_best(run["id"], Path.cwd() / f"clade-run{run['id']}-best-agent.tar.gz")
            console.print(f"  best agent (node {final['best_node_id']}) exported to {out}")
        else:
            console.print("  the run chose no best agent (nothing was evaluated)")
        console.print(f"\n  browse the archive again any time with `clade serve` (CLADE_HOME={home.root})")
    except CladeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
