"""How the CLI turns a room's user-facing error into one line and exit 2."""

from __future__ import annotations

import typer

from api.cli.text import terminal_safe
from archive.errors import CladeError
from sandbox.errors import SandboxError

# Every room's base class for errors whose message already says what to do.
USER_ERRORS: tuple[type[BaseException], ...] = (CladeError, SandboxError)


def report(exc: BaseException) -> None:
    typer.echo(f"error: {terminal_safe(str(exc))}", err=True)
