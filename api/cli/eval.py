"""`clade eval`: score an agent on a benchmark, outside any run.

    clade eval --benchmark builtin|polyglot:PATH|swebench:NAME_OR_FILE [--subset S] [--tasks ID,...]
               [--agent seed|gold|noop|NODE_ID | --predictions FILE.jsonl] [--workers N] [--json]

Shows progress while tasks run, then a table per task (outcome, time,
tokens, reason) and a summary; writes `report.json` (the same document
`--json` prints) next to per-task logs. `gold` and `noop` validate a
benchmark install: gold must resolve everything, noop nothing.

`--predictions` grades precomputed patches in SWE-bench's predictions
format (`instance_id`, `model_name_or_path`, `model_patch` per line of a
.jsonl, or a .json list / object keyed by instance_id) instead of running
an agent: the instances in the file are graded (intersected with
`--subset` / `--tasks`), and the agent is named by `model_name_or_path`.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.context import JSON_OPTION, print_json
from api.cli.text import terminal_safe

OUTCOME_STYLE = {"resolved": "green", "unresolved": "yellow", "error": "red", "timeout": "magenta",
                 "tampered": "bold white on red"}
REASON_WIDTH = 120


def _split_ids(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def summarize(results: list[Any], wall_s: float) -> dict[str, Any]:
    """The report's summary block (also used by bench/eval_throughput.py)."""
    counts = Counter(r.outcome.value for r in results)
    total = len(results)
    return {
        "tasks": total,
        "resolved": counts.get("resolved", 0),
        "unresolved": counts.get("unresolved", 0),
        "error": counts.get("error", 0),
        "timeout": counts.get("timeout", 0),
        "tampered": counts.get("tampered", 0),
        "score": round(counts.get("resolved", 0) / total, 4) if total else 0.0,
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
        "wall_s": round(wall_s, 2),
        "task_s": round(sum(r.duration_s for r in results), 2),
    }


@contextlib.contextmanager
def _model_access(agent_is_code: bool, llm_socket: Path | None, model: str, token: str, workdir: Path,
                  archive: Any = None, run_id: int | None = None) -> Iterator[Any]:
    """A fixed socket (`--llm-socket`), or an in-process gateway to the configured backends
    (accounting every call in the archive, when one is open, as the engine's gateway does)."""
    if not agent_is_code:
        yield None
        return
    from evaluator.contract import ModelAccess

    if llm_socket is not None:
        yield ModelAccess(str(llm_socket), model, token)
        return
    from evolve.model_access import GatewayIssuer
    from llm.config import GatewayConfig
    from llm.gateway import Gateway

    gateway = Gateway(GatewayConfig(socket_path=workdir / "llm.sock"),
                      repo=archive.repo if archive is not None else None).start()
    try:
        yield GatewayIssuer(gateway, run_id).for_evaluations(model)
    finally:
        gateway.stop()


def eval_command(
    benchmark: str = typer.Option("builtin", "--benchmark", "-b",
                                  help="builtin, polyglot:PATH (a polyglot-benchmark checkout) or "
                                       "swebench:NAME_OR_FILE (.json/.jsonl/.parquet)"),
    subset: str = typer.Option(None, "--subset", "-s", help="small, medium, full (builtin/polyglot), a language"),
    tasks: str = typer.Option(None, "--tasks", "-t", help="comma-separated task ids (overrides --subset)"),
    agent: str = typer.Option(None, "--agent", "-a", help="seed (default), gold, noop, mini-swe-agent, a node id of "
                                                            "the archive, or a path: a folder holding agent/ or a "
                                                            "`clade export` .tar.gz"),
    predictions: Path = typer.Option(None, "--predictions", "-p",
                                     help="grade precomputed patches instead of running an agent: SWE-bench's "
                                          "predictions format (.jsonl: instance_id, model_name_or_path, "
                                          "model_patch per line; or .json)"),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="tasks run at once"),
    as_json: bool = JSON_OPTION,
    out: Path = typer.Option(None, "--out", help="folder for report.json and per-task logs "
                                                 "(default: $CLADE_HOME/evals/<time>-<benchmark>)"),
    llm_socket: Path = typer.Option(None, "--llm-socket", help="a gateway's (or model server's) Unix socket for "
                                                               "code agents; default: start a gateway here"),
    model: str = typer.Option("local", "--model", help="model name code agents ask for (CLADE_MODEL)"),
    llm_token: str = typer.Option("", "--llm-token", help="token to send with --llm-socket"),
    agent_timeout: float = typer.Option(600.0, "--agent-timeout", help="seconds an agent may work on one task"),
    max_steps: int = typer.Option(None, "--max-steps", min=1, max=10_000,
                                  help="model calls an agent may make per task (default: the contract's, 30)"),
    max_answer_tokens: int = typer.Option(None, "--max-answer-tokens", min=1, max=1_000_000,
                                          help="the longest answer an agent asks of the model per turn "
                                               "(default: the contract's, 1024)"),
    tests_timeout: float = typer.Option(None, "--tests-timeout", help="seconds the hidden tests may run "
                                                                      "(default: the task's own)"),
    list_only: bool = typer.Option(False, "--list", help="list the benchmark's subsets and tasks, and exit"),
) -> None:
    """Run an agent on benchmark tasks in sandboxes and grade them."""
    from archive.home import CladeHome
    from evaluator import AgentLimits, EvalOptions, evaluate_tasks, open_benchmark, resolve_agent
    from evaluator.errors import EvaluatorError

    if predictions is not None and agent is not None:
        raise EvaluatorError("--predictions and --agent are mutually exclusive: the predictions file's patches "
                             "are the agent; drop one of them")
    bench = open_benchmark(benchmark)
    if list_only:
        _list(bench, as_json)
        return
    console = Console(stderr=True, quiet=as_json)
    fixed_spec = None
    if predictions is not None:
        from evaluator.agents import patch_agent
        from evaluator.predictions import predicted_tasks, read_predictions

        read = read_predictions(predictions)
        notes = [*read.notes]
        selected = predicted_tasks(bench, read, subset, _split_ids(tasks), on_note=notes.append)
        fixed_spec = patch_agent(read.agent, read.patches)
        agent_label = read.agent
        for note in notes:
            typer.echo(f"note: {note}", err=True)
    else:
        agent = agent or "seed"
        agent_label = agent
        selected = bench.load(subset, _split_ids(tasks))
    from evaluator.images import require_images

    require_images(selected)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    label = f"{stamp}-{bench.name}-{_safe_label(agent_label)}"
    out_dir = (out or CladeHome.from_env().root / "evals" / label).expanduser().absolute()
    out_dir.mkdir(parents=True, exist_ok=True)

    archive = node_id = None
    if fixed_spec is None and agent.removeprefix("node:").isdigit():  # a node: its code is in the archive
        from api.cli.context import archive as open_cli_archive

        archive = open_cli_archive()
        node_id = int(agent.removeprefix("node:"))
    with tempfile.TemporaryDirectory(prefix="clade-eval-cli-") as tmp:
        spec = fixed_spec or resolve_agent(agent, archive=archive, workdir=Path(tmp) / "code")
        if spec.needs_agents_image:
            from evaluator import agents_image

            for base in sorted({t.image or "" for t in selected}):  # "": the sandbox image
                agents_image.build(base or None, say=lambda line: console.print(escape(line)))
        run_id = archive.repo.get_node(node_id).run_id if archive is not None and node_id is not None else None
        with _model_access(not spec.is_reference, llm_socket, model, llm_token, Path(tmp), archive, run_id) as access:
            options = EvalOptions(
                agent_limits=AgentLimits(max_steps=max_steps or AgentLimits.max_steps, seconds=agent_timeout,
                                         max_answer_tokens=max_answer_tokens or AgentLimits.max_answer_tokens),
                tests_timeout=tests_timeout, model=access,
                log_root=out_dir / "tasks",
            )
            started = time.monotonic()
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=console,
                          transient=True, disable=as_json) as progress:
                bar = progress.add_task(f"{escape(bench.name)} · {escape(spec.name)}", total=len(selected), last="")

                def done(result: Any) -> None:
                    style = OUTCOME_STYLE.get(result.outcome.value, "white")
                    progress.update(bar, advance=1,
                                    last=f"{escape(result.task_id)}: [{style}]{result.outcome.value}[/]")

                results = evaluate_tasks(selected, spec, options, workers=workers, archive=archive,
                                         node_id=node_id, on_result=done)
            wall = time.monotonic() - started
    report = {
        "summary": {**summarize(results, wall), "benchmark": benchmark, "subset": subset,
                    "agent": spec.name, "workers": workers, "report_dir": str(out_dir),
                    **({"predictions": str(predictions.expanduser().absolute())} if predictions else {})},
        "tasks": [r.as_dict() for r in results],
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if as_json:
        print_json(report)
        return
    _print_table(results, report["summary"], out_dir)


def _safe_label(name: str) -> str:
    """A name as a folder-name part (model names hold slashes: `org/model`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "agent"


def _reason_cell(result: Any) -> str:
    """The reason, shortened, then the grader's evidence: the tampering rule, the set-aside files."""
    reason = result.reason if len(result.reason) <= REASON_WIDTH else result.reason[: REASON_WIDTH - 3] + "..."
    cell = escape(terminal_safe(reason))
    tampering = getattr(result, "tampering", None)
    if tampering:
        cell += f" [bold red]· tampering: {escape(terminal_safe(str(tampering.get('rule') or '?')))}[/]"
    set_aside = list(getattr(result, "set_aside", None) or [])
    if set_aside:
        cell += f" [dim]· {len(set_aside)} set-aside file{'s' if len(set_aside) != 1 else ''}[/]"
    return cell


def _list(bench: Any, as_json: bool) -> None:
    subsets = bench.subsets()
    if as_json:
        print_json({"benchmark": bench.name, "subsets": subsets})
        return
    console = Console()
    for name, ids in subsets.items():
        console.print(f"[bold]{name}[/bold] ({len(ids)})")
        if name == "full":
            for task_id in ids:
                console.print(f"  {task_id}")


def _print_table(results: list[Any], summary: dict[str, Any], out_dir: Path) -> None:
    console = Console()
    table = Table(title="Per task")
    table.add_column("task", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("seconds", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("reason", overflow="fold")
    for r in results:
        style = OUTCOME_STYLE.get(r.outcome.value, "white")
        table.add_row(escape(r.task_id), f"[{style}]{r.outcome.value}[/]", f"{r.duration_s:.1f}", str(r.tokens),
                      _reason_cell(r))
    console.print(table)
    console.print(
        f"[bold]{summary['resolved']}/{summary['tasks']} resolved[/bold] (score {summary['score']:.2f}); "
        f"{summary['unresolved']} unresolved, {summary['error']} error, {summary['timeout']} timeout, "
        f"{summary['tampered']} tampered; "
        f"{summary['prompt_tokens'] + summary['completion_tokens']} tokens; {summary['wall_s']:.1f} s"
    )
    console.print(f"report: {out_dir / 'report.json'}")
