"""`clade run ...`: the runs in the archive."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from api.cli.context import JSON_OPTION, archive, print_json
from archive.models import RunStatus
from archive.serialize import run_dict
from archive.tree import TreeNode

app = typer.Typer(help="Evolution runs.", no_args_is_help=True)
RUN_HINT = "list runs with `clade run list`"


class LeaseDriving:
    """Whether a process drives a run, read from its lease (api.services.Driving): the CLI's
    answer to the question the server's RunSupervisor answers, without importing the engine."""

    def __init__(self, opened) -> None:  # type: ignore[no-untyped-def]
        self.archive = opened

    def driving(self, run_id: int) -> bool:
        from archive.lease import current_driver

        return current_driver(self.archive.db, run_id) is not None


@app.command("list")
def list_runs(as_json: bool = JSON_OPTION) -> None:
    """List every run with its status and counters."""
    from api.services import run_summary

    opened = archive()
    runs = [run_summary(run, LeaseDriving(opened)) for run in opened.repo.list_runs()]
    if as_json:  # GET /api/runs's body, every run on one page
        print_json({"total": len(runs), "offset": 0, "limit": max(len(runs), 100), "runs": runs})  # 100: the API default
        return
    if not runs:
        typer.echo("no runs yet")
        return
    table = Table("id", "name", "status", "nodes", "evaluations", "tokens", "cost (USD)", "created")
    for run in runs:
        table.add_row(
            str(run["id"]),
            run["name"],
            run["status"],
            str(run["nodes"]),
            str(run["evaluations"]),
            str(run["prompt_tokens"] + run["completion_tokens"]),
            f"{run['cost_usd']:.4f}",
            (run["created_at"] or "")[:19],
        )
    Console().print(table)


@app.command("tree")
def tree(run_id: int = typer.Argument(..., help="Run id."), as_json: bool = JSON_OPTION) -> None:
    """The run's tree with own and clade (own + descendants') counts."""
    if as_json:  # GET /api/runs/{id}/tree's body: the tree in columns
        from archive.tree import tree_columns

        print_json(tree_columns(archive().db, run_id, hint=RUN_HINT).as_dict())
        return
    nodes = archive().repo.tree(run_id)
    console = Console()
    for node in _depth_first(nodes):
        console.print(
            f"{'  ' * node.depth}node {node.id} [{node.status}] "
            f"own {node.own_resolved}/{node.own_total}  clade {node.clade_resolved}/{node.clade_total}"
            + (f"  TAMPERED {node.own_tampered} (grades refused)" if node.own_tampered else ""),
            markup=False,
        )


def _depth_first(nodes: dict[int, TreeNode]) -> list[TreeNode]:
    stack = [n for n in nodes.values() if n.depth == 0][::-1]
    order: list[TreeNode] = []
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(nodes[c] for c in reversed(node.children))
    return order


SET_OPTION = typer.Option([], "--set", help="Override a setting: KEY=VALUE, e.g. budget.task_evaluations=50.")


@app.command("start")
def start(
    config_path: Path = typer.Argument(..., help="Run configuration (YAML)."),
    overrides: list[str] = SET_OPTION,
    detach: bool = typer.Option(False, "--detach", help="Run in the background and return at once."),
    executor: str = typer.Option(None, "--executor", help="local (this machine) or ray (a Ray cluster's nodes); "
                                 "default: the config's `executor`."),
    ray_address: str = typer.Option(None, "--ray-address", help="The Ray cluster's head, HOST:PORT "
                                    "(default: RAY_ADDRESS, else the cluster this machine belongs to)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start an evolution run from a configuration file."""
    from evolve.config import ConfigError, load_config
    from evolve.runs import create_run

    extra = []
    if executor is not None:
        if executor not in ("local", "ray"):
            raise ConfigError(f"--executor {executor!r}: choose local or ray")
        extra.append(f"executor={executor}")
    if ray_address is not None:
        if (executor or "ray") != "ray":
            raise ConfigError("--ray-address goes with --executor ray")
        extra += ["executor=ray", f"ray.address={json.dumps(ray_address)}"]  # quoted: YAML reads 1:2 as a number
    config = load_config(config_path, [*overrides, *extra])
    run = create_run(archive(), config)
    _drive(run.id, detach, as_json)


@app.command("resume")
def resume(
    run_id: int = typer.Argument(..., help="Run id."),
    detach: bool = typer.Option(False, "--detach", help="Run in the background and return at once."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Continue a paused or interrupted run; work that was under way is done again."""
    _drive(run_id, detach, as_json)


@app.command("pause")
def pause(run_id: int = typer.Argument(..., help="Run id.")) -> None:
    """Stop dispatching new work; what is under way finishes and is recorded."""
    from evolve.runs import request_stop

    request_stop(archive(), run_id, RunStatus.PAUSED)
    typer.echo(f"run {run_id}: pause requested (resume with `clade run resume {run_id}`)")


@app.command("cancel")
def cancel(run_id: int = typer.Argument(..., help="Run id.")) -> None:
    """End the run for good; what is under way finishes and is recorded."""
    from evolve.runs import request_stop

    request_stop(archive(), run_id, RunStatus.CANCELLED)
    typer.echo(f"run {run_id}: cancelled")


@app.command("status")
def status(run_id: int = typer.Argument(..., help="Run id."), as_json: bool = JSON_OPTION) -> None:
    """Status, budget spent, counters and the best node so far."""
    from archive.lease import current_driver  # not evolve.runs: that imports the engine and litellm

    from api.services import run_detail

    opened = archive()
    data = run_detail(opened, LeaseDriving(opened), run_id)  # GET /api/runs/{id}'s body
    data["driver"] = current_driver(opened.db, run_id)  # and who drives it
    if as_json:
        print_json(data)
        return
    console = Console()
    driven = f" (driven by {data['driver']})" if data["driver"] else ""
    console.print(f"[bold]run {run_id}[/bold] {data['name']}: {data['status']}{driven}", markup=True)
    valid = data["nodes_by_status"].get("valid", 0)
    console.print(f"nodes {data['nodes']} ({valid} valid), evaluations {data['evaluations']}, "
                  f"model calls {data['llm_calls']}, tokens {data['prompt_tokens'] + data['completion_tokens']}, "
                  f"cost {data['cost_usd']:.4f} USD", markup=False)
    by_outcome = data["evaluations_by_outcome"]
    console.print("outcomes: " + ", ".join(f"{name} {count}" for name, count in by_outcome.items()), markup=False)
    if by_outcome["tampered"]:
        console.print(f"tampered: {by_outcome['tampered']} grade(s) refused, the code under test forged them "
                      "(failures; see `clade node show NODE`)", markup=False)
    best, leader = data["best_node"], data["leader"]
    console.print(f"best node: {best['id']} ({best['own_resolved']}/{best['own_total']})" if best else
                  f"best node: - (leader so far: {leader['id']}, {leader['own_resolved']}/{leader['own_total']})"
                  if leader else "best node: -", markup=False)
    budget = data["budget"]
    console.print(f"budget: evaluations {budget['evaluations_spent']}/{budget['task_evaluations'] or '-'}, "
                  f"expansions {budget['expansions_spent']}/{budget['expansions'] or '-'}, "
                  f"tokens {budget['tokens_spent']}/{budget['tokens'] or '-'}", markup=False)
    if data["search"]:
        rules = "; ".join(f"{key}: {value}" for key, value in data["search"]["conventions"].items())
        console.print(f"searched with {data['search']['policy']} ({rules})", markup=False)


def _drive(run_id: int, detach: bool, as_json: bool) -> None:
    from evolve.runs import detach as detach_run
    from evolve.runs import drive

    if detach:
        pid = detach_run(archive(), run_id)
        if as_json:
            print_json({"run_id": run_id, "pid": pid})
        else:
            typer.echo(f"run {run_id} is running in the background (pid {pid}); "
                       f"watch it with `clade run status {run_id}`")
        return
    final = _drive_live(run_id, drive) if not as_json else drive(archive(), run_id)
    run = archive().repo.get_run(run_id)
    if as_json:
        print_json(run_dict(run))
    else:
        typer.echo(f"run {run_id}: {final.value}; best node {run.best_node_id or '-'}")


def _drive_live(run_id: int, drive) -> RunStatus:  # type: ignore[no-untyped-def]
    from rich.live import Live

    def view(progress) -> Table:  # type: ignore[no-untyped-def]
        table = Table(title=f"run {run_id}", show_header=False)
        table.add_row("evaluations", f"{progress.evaluations_finished} / {progress.evaluations_budget}")
        table.add_row("nodes", f"{progress.nodes} ({progress.valid} valid)")
        table.add_row("best", f"node {progress.best_node_id or '-'} ({progress.best_score})")
        table.add_row("under way", ", ".join(progress.running) or "-")
        return table

    with Live(Table(title=f"run {run_id}: starting"), refresh_per_second=4, transient=False) as live:
        return drive(archive(), run_id, on_progress=lambda p: live.update(view(p)))
