"""`clade node ...`: one node of a run's tree."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from api.cli.context import JSON_OPTION, archive, print_json
from api.cli.text import terminal_safe

app = typer.Typer(help="Nodes of the archive tree (agent versions).", no_args_is_help=True)


@app.command("show")
def show(node_id: int = typer.Argument(..., help="Node id."), as_json: bool = JSON_OPTION) -> None:
    """What the node is, why it exists, and how it scored."""
    from api.services import node_detail

    opened = archive()
    node = opened.repo.get_node(node_id)
    data = node_detail(opened, node_id)  # GET /api/nodes/{id}'s body
    if as_json:
        print_json(data)
        return
    console = Console()
    score = f"{data['score']:.2f}" if data["score"] is not None else "-"
    console.print(f"[bold]node {node.id}[/bold]  run {node.run_id}  parent {node.parent_id or '-'}  {data['status']}")
    console.print(f"commit   {node.commit or '-'}")
    tampered = f", {data['own_tampered']} tampered: grades refused" if data["own_tampered"] else ""
    console.print(f"score    {score} ({data['own_resolved']}/{data['own_total']} resolved{tampered})", markup=False)
    if node.entry_task:
        console.print(f"entry    {terminal_safe(node.entry_task)}", markup=False)
    if node.proposal:
        console.print("proposal " + json.dumps(node.proposal, indent=2), markup=False)  # JSON escapes controls
    if node.failure_reason:
        console.print(Text("failure  ", style="red") + Text(terminal_safe(node.failure_reason)))
    evaluations = data["evaluations"]
    if evaluations:
        table = Table("id", "task", "outcome", "seconds", "tokens", "reason")
        for e in evaluations:
            seconds = f"{e['duration_s']:.1f}" if e["duration_s"] is not None else "-"
            tokens = str(e["prompt_tokens"] + e["completion_tokens"])
            outcome = Text(e["outcome"] or "running", style="bold magenta" if e["outcome"] == "tampered" else "")
            table.add_row(str(e["id"]), Text(terminal_safe(e["task_id"])), outcome, seconds, tokens, _reason(e))
        console.print(table)


def _reason(evaluation: dict) -> Text:
    """The grader's reason, and for a refused grade the check that caught it and what it saw
    (plain text, never markup: the evidence quotes what the code under test printed)."""
    from evolve.grades import GradeEvidence

    reason = evaluation["reason"] or ""
    evidence = GradeEvidence.from_details(evaluation["details"])
    if evidence.tampering:
        reason += f"\ncaught by {evidence.rule}: {evidence.detail[:300]}"
    if evidence.set_aside:
        reason += f"\nset aside: {', '.join(evidence.set_aside[:10])}" + (" ..." if len(evidence.set_aside) > 10 else "")
    return Text(terminal_safe(reason.strip()))


@app.command("diff")
def diff(node_id: int = typer.Argument(..., help="Node id.")) -> None:
    """The node's code change against its parent, as a git diff (on a terminal,
    with control characters shown, not obeyed; piped, exactly as stored)."""
    text = archive().node_diff(node_id)
    typer.echo(terminal_safe(text) if sys.stdout.isatty() else text, nl=False)


@app.command("add")
def add(
    parent_id: int = typer.Argument(..., help="Parent node id."),
    patch: typer.FileText = typer.Option(..., "--patch", help="A git diff against the parent's code ('-': stdin)."),
    summary: str = typer.Option("hand-made change", "--summary", help="Why this child exists."),
) -> None:
    """Add a hand-made child: the parent's code plus a patch (validated later)."""
    child = archive().add_child(parent_id, patch.read(), proposal={"summary": summary, "source": "cli"})
    typer.echo(f"added node {child.id} (commit {child.commit}) as a child of node {parent_id}")
