"""`clade export`: take an agent version home."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from api.cli.context import archive
from archive.errors import CladeError
from archive.export import export_node


class ExportFormatChoice(str, Enum):
    TAR_GZ = "tar.gz"
    BUNDLE = "bundle"


def export_command(
    target: int = typer.Argument(..., help="Node id to export (a run id with --best)."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write."),
    fmt: ExportFormatChoice = typer.Option(
        ExportFormatChoice.TAR_GZ, "--format", help="tar.gz: code plus clade-lineage.json; bundle: git history."
    ),
    best: bool = typer.Option(False, "--best", help="TARGET is a run: export the agent it ships."),
) -> None:
    """Export a node's code (.tar.gz with a lineage manifest) or its git history (bundle)."""
    node_id = best_node(target) if best else target
    path = export_node(archive(), node_id, output, fmt.value)
    typer.echo(f"exported node {node_id} to {path}")


def best_node(run_id: int) -> int:
    run = archive().repo.get_run(run_id)
    if run.best_node_id is None:
        raise CladeError(
            f"run {run_id} has no best node yet (it is {run.status.value}): the final-agent rule picks one "
            f"when the run finishes; see `clade run status {run_id}`"
        )
    return run.best_node_id
