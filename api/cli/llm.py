"""`clade llm ...`: the local model server and one-off calls through the gateway."""

from __future__ import annotations

import signal
import time
from typing import Any

import typer

from api.cli.context import JSON_OPTION, print_json

app = typer.Typer(help="The model: local vLLM server, and calls through the gateway.", no_args_is_help=True)


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def serve(
    ctx: typer.Context,
    model: str = typer.Option(
        None, "--model", help="a Hugging Face folder or model name; default: the embedded SmolLM2-135M-Instruct"
    ),
    port: int = typer.Option(8000, "--port", help="loopback port of the OpenAI server"),
    served_name: str = typer.Option(None, "--served-name", help="model name clients use (default: folder name)"),
    max_model_len: int = typer.Option(8192, "--max-model-len", help="context window to serve"),
    detach: bool = typer.Option(False, "--detach", help="leave it running; `clade llm stop` stops it"),
    startup_timeout: float = typer.Option(900.0, "--startup-timeout", help="seconds to wait until it answers"),
) -> None:
    """Start vLLM's OpenAI server and wait until it answers. Arguments after
    `--` go to vLLM as they are (e.g. `-- --tool-call-parser qwen3_coder`)."""
    from llm.local_server import LocalModelServer

    server = LocalModelServer(
        model=model,
        served_name=served_name,
        port=port,
        max_model_len=max_model_len,
        extra_args=ctx.args,
        startup_timeout_s=startup_timeout,
    )
    typer.echo(f"starting the model server (log: {server.home.root / 'llm' / 'model-server.log'}) ...", err=True)
    started = time.monotonic()
    server.start()
    assert server.state is not None
    typer.echo(
        f"model server ready in {time.monotonic() - started:.0f} s: {server.state.served_name} at "
        f"{server.api_base} (pid {server.state.pid})"
    )
    if detach:
        return
    typer.echo("Ctrl-C stops it", err=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        code = server.wait()
        typer.echo(f"the model server exited with status {code}", err=True)
    except KeyboardInterrupt:
        typer.echo("stopping the model server ...", err=True)
    finally:
        server.stop()


@app.command("status")
def status(as_json: bool = JSON_OPTION) -> None:
    """Is a model server running, and does it answer?"""
    from llm.local_server import status as server_status

    state = server_status()
    if as_json:
        print_json(state)
        return
    if state is None:
        typer.echo("no model server was started: `clade llm serve --detach` starts one")
        return
    health = "answers" if state["answers"] else ("running, not answering yet" if state["running"] else "not running")
    typer.echo(f"{state['served_name']} at {state['api_base']} (pid {state['pid']}): {health}")
    typer.echo(f"model: {state['model']}\nlog:   {state['log']}")


@app.command("stop")
def stop() -> None:
    """Stop the model server that `clade llm serve --detach` left running."""
    from llm.local_server import stop as stop_server

    state = stop_server()
    if state is None:
        typer.echo("no model server was running")
    else:
        typer.echo(f"stopped the model server (pid {state.pid}, {state.served_name})")


@app.command("chat")
def chat(
    prompt: str = typer.Argument(..., help="what to ask"),
    model: str = typer.Option(
        None,
        "--model",
        help="a litellm model string (openai/gpt-4o-mini, anthropic/..., hosted_vllm/NAME); "
        "default: the running local model server",
    ),
    api_base: str = typer.Option(None, "--api-base", help="the backend's base URL, if not the provider's"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="environment variable holding the backend's key"),
    system: str = typer.Option(None, "--system", help="a system message"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send one request through the gateway; print the reply and its usage."""
    from llm.chat import chat_once

    result = chat_once(
        prompt, model=model, api_base=api_base, api_key_env=api_key_env, system=system, max_tokens=max_tokens
    )
    if as_json:
        print_json(result)
        return
    message: dict[str, Any] = result["response"]["choices"][0]["message"]
    typer.echo(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        typer.echo(f"[tool call] {call['function']['name']}({call['function']['arguments']})")
    usage = result["response"].get("usage") or {}
    typer.echo(
        f"-- {result['model']}: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} "
        f"completion tokens, ${result['cost_usd']:.6f}, {result['latency_s']:.2f} s",
        err=True,
    )
