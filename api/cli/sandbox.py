"""`clade sandbox`: build the sandbox image, run a command in a sandbox, check its walls.

Errors from the sandbox room (`SandboxError`) reach `api.cli.main`, which
prints them as one line with exit status 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from sandbox import attacks, image, reaper, recipe, seccomp
from sandbox.client import get_client
from sandbox.factory import open_sandbox
from sandbox.errors import SandboxError
from sandbox.limits import SandboxLimits

app = typer.Typer(
    help="Build the sandbox image, run commands in sandboxes, and check their isolation.",
    no_args_is_help=True,
)


class _BuildProgress:
    """Show a build as one line per finished stage and a spinner with the latest output."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.stage = ""
        self.started = time.monotonic()
        self.status = console.status("starting")

    def __call__(self, stage: str, message: str) -> None:
        if stage != self.stage:
            if self.stage:
                self.console.print(f"[green]✓[/] {self.stage} ({time.monotonic() - self.started:.0f} s)")
            self.stage, self.started = stage, time.monotonic()
        if stage == "done":
            self.console.print(f"[green]✓[/] {message}")
        else:
            self.status.update(f"[bold]{stage}[/] {message[:100]}")


@app.command("build")
def build_command(
    force: bool = typer.Option(False, "--force", help="Rebuild both images and download everything again."),
) -> None:
    """Build the base image (debootstrap, no registry) and the runtime image; skip what is up to date."""
    console = Console(stderr=True)
    progress = _BuildProgress(console)
    with progress.status:
        tag = image.build(force=force, progress=progress)
    typer.echo(tag)


@app.command("tag")
def tag_command() -> None:
    """Print the runtime image sandboxes use (CLADE_SANDBOX_IMAGE, or the current recipe's tag)."""
    typer.echo(recipe.runtime_image_tag())


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
def run_command(
    cmd: list[str] = typer.Argument(..., help="The command and its arguments (put them after --)."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.01, help="Wall-clock seconds before the command is killed."),
    memory: str = typer.Option(None, "--memory", help="Memory limit, swap included, e.g. 512m or 2g."),
    cpus: float = typer.Option(None, "--cpus", help="CPU cores."),
    image_tag: str = typer.Option(None, "--image", help="Image to run (default: `clade sandbox tag`)."),
) -> None:
    """Run one command in a fresh sandbox; print its output and exit with its status (124 on timeout)."""
    overrides: dict[str, object] = {"exec_timeout": timeout, "lifetime": timeout + 60}
    if memory is not None:
        overrides["memory"] = memory
    if cpus is not None:
        overrides["cpus"] = cpus
    try:
        limits = SandboxLimits(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = {"exec_timeout": "timeout", "lifetime": "timeout"}.get(str(problem["loc"][0]), problem["loc"][0])
        raise SandboxError(f"--{option}: {problem['msg'].removeprefix('Value error, ')}") from None
    with open_sandbox(image_tag, limits) as sb:
        result = sb.exec(cmd, timeout=timeout)
    sys.stdout.write(result.output)
    sys.stdout.flush()
    if result.truncated:
        typer.echo(f"clade: output truncated to {limits.max_output_bytes} bytes (head and tail kept)", err=True)
    if result.timed_out:
        typer.echo(f"clade: timed out after {timeout:g} s", err=True)
    elif result.exit_code != 0:
        typer.echo(f"clade: exit status {result.exit_code}", err=True)
    # sys.exit, not typer.Exit: the root app runs with standalone_mode=False,
    # where click turns typer.Exit into a return value that would be lost.
    sys.exit(result.exit_code)


@app.command("check")
def check_command(
    only: list[str] = typer.Option(None, "--attack", help=f"Run only these attacks: {', '.join(attacks.names())}."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Run the attack suite against the sandbox; exit 1 if any attack is not contained."""
    image.require_image()
    console = Console(stderr=True)
    with console.status("attacking") as status:
        results = attacks.run_attacks(
            only or None,
            on_result=lambda r: status.update(f"attacking: {r.name} {'contained' if r.contained else 'NOT CONTAINED'}"),
        )
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    else:
        table = Table("attack", "contained", "evidence", "time", title="sandbox attack suite")
        host_ok = all(r.host and not r.host.startswith("NOT") for r in results)
        for r in results:
            verdict = "[green]yes[/]" if r.contained else "[bold red]NO[/]"
            evidence = r.detail if host_ok else f"{r.detail}\n[dim]host: {r.host}[/]"
            table.add_row(f"{r.name}\n[dim]{r.description}[/]", verdict, evidence, f"{r.duration:.1f} s")
        Console().print(table)
        if host_ok and results:
            typer.echo(f"after every attack: {results[0].host}")
    failed = [r.name for r in results if not r.contained]
    if failed:
        typer.echo(f"not contained: {', '.join(failed)}", err=True)
        sys.exit(1)


@app.command("seccomp")
def seccomp_command(
    upstream: bool = typer.Option(False, "--upstream", help="Print Docker's default profile as shipped instead."),
    removed: bool = typer.Option(False, "--removed", help="List the system calls Clade takes out, and why."),
) -> None:
    """Print the seccomp profile every sandbox runs under (JSON for `docker run --security-opt seccomp=FILE`)."""
    if removed:
        typer.echo(f"Docker's default ({seccomp.UPSTREAM_SOURCE}) without:")
        for name, why in seccomp.REMOVED.items():
            typer.echo(f"  {name}: {why}")
        return
    typer.echo(json.dumps(seccomp.upstream() if upstream else seccomp.profile(), indent=2))


@app.command("reap")
def reap_command() -> None:
    """Remove sandbox containers left behind by processes that died."""
    removed = reaper.reap_orphans(get_client())
    typer.echo(f"removed {len(removed)} orphaned sandbox container(s)")
