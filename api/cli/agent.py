"""`clade agent ...`: run one agent version by hand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from api.cli.context import JSON_OPTION, archive, print_json
from evaluator.agents import write_agent_code
from evolve.validation import validate_agent

app = typer.Typer(help="Run an agent version (the seed, or a node's) by hand.", no_args_is_help=True)

NODE_OPTION = typer.Option(None, "--node", help="Node id whose agent to use (default: the seed agent).")


@app.command("test")
def test(node: int | None = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Validate an agent version in a sandbox: compiles, own tests pass, contract kept."""
    with tempfile.TemporaryDirectory(prefix="clade-agent-") as tmp:
        code = write_agent_code(archive() if node is not None else None, node, Path(tmp))
        result = validate_agent(code)
    if as_json:
        print_json({"node": node, "ok": result.ok, "stage": result.stage, "reason": result.reason})
    else:
        typer.echo(result.log)
        typer.echo(("PASSED: " if result.ok else f"FAILED at {result.stage}: ") + result.reason)
    raise typer.Exit(0 if result.ok else 1)
