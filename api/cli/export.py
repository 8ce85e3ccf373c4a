"""`clade export`: take an agent version home."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from api.cli.context import archive
from archive.export import export_node


class ExportFormatChoice(str, Enum):
    TAR_GZ = "tar.gz"
    BUNDLE = "bundle"


def export_command(
    node_id: int = typer.Argument(..., help="Node id to export."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write."),
    fmt: ExportFormatChoice = typer.Option(
        ExportFormatChoice.TAR_GZ, "--format", help="tar.gz: code plus clade-lineage.json; bundle: git history."
    ),
) -> None:
    """Export a node's code (.tar.gz with a lineage manifest) or its git history (bundle)."""
    path = export_node(archive(), node_id, output, fmt.value)
    typer.echo(f"exported node {node_id} to {path}")
