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


def is_click_error(exc: BaseException) -> bool:
    """A click exception from any copy of click: typer 0.29 bundles its own
    (`typer._click`), whose classes are not `click.ClickException`."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "format_message")


def report_usage(exc: BaseException) -> None:
    """One line: what was wrong (click's words, its "Did you mean" included) and where help is."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    typer.echo(f"error: {terminal_safe(message)}{where}", err=True)
