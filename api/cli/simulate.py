"""`clade simulate`: compare search policies on synthetic ground-truth trees, paired."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from api.cli.context import JSON_OPTION, print_json
from archive.errors import CladeError
from evolve.policies import POLICIES
from evolve.simulator import WORLD_OPTIONS, compare, markdown, parse_policy, parse_worlds

INTERVAL = "95 %: mean ± t(n-1)·sd/√n (Student t table to 30 df, Cornish-Fisher beyond)"


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CladeError(f"--{what} must be whole numbers separated by commas, e.g. 100,400") from None
    if not values or min(values) <= 0:
        raise CladeError(f"--{what} needs at least one positive number")
    return values


def _specs(text: str, reference: str) -> list[str]:
    """The policies as named, each validated now (a bad option is refused before anything runs)."""
    specs = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not specs:
        raise CladeError(f"--policies names no policy: choose from {', '.join(POLICIES)}")
    for spec in [reference, *specs]:
        try:
            parse_policy(spec)
        except (ValueError, KeyError) as exc:
            raise CladeError(str(exc)) from None
    return specs


def simulate_command(
    policies: str = typer.Option(
        ",".join(POLICIES),
        help="Comma-separated policies, each NAME or NAME:KEY=VALUE;KEY=VALUE, "
             "e.g. hgm:invalid_children=pool_as_failures."),
    trees: int = typer.Option(20, min=2,
                              help="Synthetic worlds per (world, budget); every policy meets the same ones."),
    budget: str = typer.Option("200,800", help="Task-evaluation budgets, comma-separated."),
    world: Optional[list[str]] = typer.Option(
        None, "--world", help=f"World option KEY=VALUE[,VALUE...] (repeatable; several values: one world each). "
                              f"Keys: {', '.join(WORLD_OPTIONS)}."),
    reference: str = typer.Option("hgm", help="The policy every other is paired against (added if not listed)."),
    workers: int = typer.Option(2, min=1, help="Work slots; work finishes in the order it started."),
    jobs: int = typer.Option(1, min=1, help="Processes to simulate on."),
    seed: int = typer.Option(0, help="Seed of the synthetic worlds."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print the results as a Markdown table."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run each policy on the same synthetic worlds; report the exported agents' true rates
    with 95 % intervals, and each policy's paired difference against the reference."""
    reference = reference.strip()
    specs = _specs(policies, reference)
    budgets = _int_list(budget, "budget")
    try:
        worlds = parse_worlds(world or [])
    except ValueError as exc:
        raise CladeError(str(exc)) from None
    cells = len(worlds) * len(budgets) * len(dict.fromkeys([reference, *specs]))
    with Progress(transient=True, disable=as_json or as_markdown) as progress:
        job = progress.add_task("simulating", total=cells)
        rows = compare(specs, trees, budgets, seed, worlds, reference, workers, jobs,
                       progress=lambda: progress.advance(job))
    if as_json:
        print_json({"trees": trees, "seed": seed, "workers": workers, "reference": reference,
                    "interval": INTERVAL, "results": rows})
    elif as_markdown:
        typer.echo(markdown(rows))
    else:
        _print_table(rows, reference)


def _print_table(rows: list[dict], reference: str) -> None:
    table = Table("world", "budget", "policy", "exported (95 % CI)", f"Δ vs {reference} (95 % CI)", "best in tree",
                  "agents", "attempts", "stalled", caption=f"intervals: {INTERVAL}")
    for r in rows:
        delta = "—" if r["policy"] == reference else f"{r['difference']:+.3f} ± {r['difference_ci95']:.3f}"
        table.add_row(r["world"], str(r["budget"]), r["policy"],
                      f"{r['exported_mean']:.3f} ± {r['exported_ci95']:.3f}", delta, f"{r['best_in_tree_mean']:.3f}",
                      f"{r['agents_mean']:.0f}", f"{r['attempts_mean']:.0f}", f"{r['stalled_share']:.0%}")
    Console().print(table)
