"""The `clade` command line: one Typer app with a sub-app per room.

Every user-facing error (a `CladeError` from any room) ends as one line on
stderr that names the problem and the fix, with exit status 2, instead of a
traceback; so does every usage error (an unknown command, a missing
argument), whichever copy of click raised it.
"""

from __future__ import annotations

import sys

import typer

from api.cli import errors

app = typer.Typer(
    name="clade",
    help="Clade: grow, score and export self-evolving coding agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"clade {version('clade')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Clade: grow, score and export self-evolving coding agents."""


def _register_subcommands() -> None:
    """Import sub-apps late so `clade --version` stays fast. One line per room."""
    from api.cli import agent, eval, export, llm, nodes, runs, sandbox, simulate

    app.add_typer(runs.app, name="run")
    app.add_typer(nodes.app, name="node")
    app.command("export")(export.export_command)
    app.command("simulate")(simulate.simulate_command)
    app.add_typer(agent.app, name="agent")
    app.add_typer(sandbox.app, name="sandbox")
    app.add_typer(llm.app, name="llm")
    app.command("eval")(eval.eval_command)
    app.command("serve")(__import__("api.cli.serve", fromlist=["serve_command"]).serve_command)


def main() -> None:
    _register_subcommands()
    try:
        # Outside standalone mode click returns a command's exit code instead of exiting.
        sys.exit(app(standalone_mode=False) or 0)
    except errors.USER_ERRORS as exc:
        errors.report(exc)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors and the like
        if not errors.is_click_error(exc):
            raise
        errors.report_usage(exc)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
