"""`clade simulate`: compare search policies on synthetic ground-truth trees."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from api.cli.context import JSON_OPTION, print_json
from archive.errors import CladeError
from evolve.policies import POLICIES, make_policy
from evolve.simulator import compare


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CladeError(f"--{what} must be whole numbers separated by commas, e.g. 100,400") from None
    if not values or min(values) <= 0:
        raise CladeError(f"--{what} needs at least one positive number")
    return values


def simulate_command(
    policies: str = typer.Option(",".join(POLICIES), help="Comma-separated policy names."),
    trees: int = typer.Option(20, min=1, help="Synthetic worlds per policy and budget."),
    budget: str = typer.Option("200,800", help="Task-evaluation budgets, comma-separated."),
    seed: int = typer.Option(0, help="Seed of the synthetic worlds."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run each policy on the same synthetic trees and compare the agents they would export."""
    names = [p.strip() for p in policies.split(",") if p.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        raise CladeError(f"unknown policy {', '.join(unknown) or '(none)'}: choose from {', '.join(POLICIES)}")
    budgets = _int_list(budget, "budget")
    rows: list[dict] = []
    with Progress(transient=True, disable=as_json) as progress:
        job = progress.add_task("simulating", total=len(budgets) * len(names))
        for b in budgets:
            for name in names:
                rows.extend(compare([make_policy(name)], trees, [b], seed))
                progress.advance(job)
    if as_json:
        print_json({"trees": trees, "seed": seed, "results": rows})
        return
    table = Table("budget", "policy", "exported agent (true rate)", "spread (sd)", "best in tree", "nodes")
    for row in rows:
        table.add_row(str(row["budget"]), row["policy"], f"{row['exported_mean']:.3f}", f"{row['exported_std']:.3f}",
                      f"{row['best_in_tree_mean']:.3f}", f"{row['nodes_mean']:.0f}")
    Console().print(table)
