"""`clade serve`: the REST API, the web UI and the run workers in one process."""

from __future__ import annotations

from pathlib import Path

import typer

from api.settings import DEFAULT_HOST, DEFAULT_PORT, is_loopback


def serve_command(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port to listen on."),
    allow_dir: list[Path] = typer.Option(
        [], "--allow-dir", help="Another folder that run configs posted over HTTP may name benchmark paths in."
    ),
    backends: Path = typer.Option(
        None, "--backends", metavar="FILE",
        help="YAML file of the model backends posted runs may name (`backends: [{name, model, api_base, "
             "api_key_env, ...}]`); default: the one `local` backend (`clade llm serve`'s model).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve the API (/api, OpenAPI at /api/openapi.json), the web UI and the runs it starts."""
    from api.auth import ensure_token, token_path
    from api.backends import BackendRegistry, load_backends
    from api.server import base_url, serve
    from api.settings import ServerSettings
    from archive import CladeHome

    registry = load_backends(backends) if backends is not None else BackendRegistry.default()
    home = CladeHome.from_env()
    token, created = ensure_token(home)
    settings = ServerSettings(home=home, host=host, port=port, allowed_dirs=list(allow_dir), backends=registry)
    url = base_url(host, port)

    def ready(app) -> None:  # type: ignore[no-untyped-def]
        typer.echo(f"Clade is serving {url}  (archive: {home.root})")
        if created:
            typer.echo(f"API token (shown once; kept in {token_path(home)}, mode 0600): {token}")
        else:
            typer.echo(f"API token: in {token_path(home)} (send it as `Authorization: Bearer TOKEN`)")
        typer.echo(f"Model backends posted runs may name: {', '.join(registry.names)}"
                   + (f" (from {backends})" if backends is not None else " (the default; see --backends)"))
        code = app.state.auth.issue_login_code()
        typer.echo(f"Open this login link in your browser (works once, for 15 minutes): {url}/login?code={code}")
        if not is_loopback(host):
            typer.echo(f"warning: listening on {host}, not loopback: anyone who can reach it and holds the token "
                       "can start runs; the connection is plain HTTP", err=True)

    serve(settings, on_ready=ready, log_level=log_level)
