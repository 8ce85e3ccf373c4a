"""`clade run ...`: the runs in the archive."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from api.cli.context import JSON_OPTION, archive, print_json
from archive.serialize import run_dict
from archive.tree import TreeNode

app = typer.Typer(help="Evolution runs.", no_args_is_help=True)


@app.command("list")
def list_runs(as_json: bool = JSON_OPTION) -> None:
    """List every run with its status and counters."""
    runs = [run_dict(run) for run in archive().repo.list_runs()]
    if as_json:
        print_json(runs)
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
    nodes = archive().repo.tree(run_id)
    if as_json:
        fields = ("id", "parent_id", "status", "commit", "own_resolved", "own_total", "clade_resolved", "clade_total")
        print_json({"run_id": run_id, "nodes": [{f: getattr(n, f) for f in fields} for n in nodes.values()]})
        return
    console = Console()
    for node in _depth_first(nodes):
        console.print(
            f"{'  ' * node.depth}node {node.id} [{node.status}] "
            f"own {node.own_resolved}/{node.own_total}  clade {node.clade_resolved}/{node.clade_total}",
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
