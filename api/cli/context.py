"""What every CLI command needs: the archive (opened once) and JSON output."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import typer

from archive import Archive, open_archive


@cache
def archive() -> Archive:
    return open_archive()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
