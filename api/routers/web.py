"""The web UI: server-rendered pages (Jinja2), SVG drawn on the server, and
a little plain JavaScript for the live parts (api/web/static/run.js).

Pages need the same token as the API, through the cookie that /login sets.
Nothing here is in the OpenAPI document: the pages are for people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api import queries, services
from api.compare import MAX_COMPARED, compare_nodes
from api.auth import COOKIE_NAME, TokenAuth
from api.deps import ArchiveDep, SupervisorDep
from api.errors import field_errors
from api.logs import evaluation_log_dir, read_log
from api.posted import as_posted
from api.timing import step_timing
from api.routers.common import MAX_ID, EvaluationId, NodeId, RunId
from api.schemas import NodeSort
from api.web import svg
from archive.errors import NotFound
from archive.tree import tree_columns
from evolve.config import RunConfig
from evolve.grades import GradeEvidence

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
MAX_TRAJECTORY_ENTRIES = 400
MAX_ENTRY_CHARS = 20_000

pages = APIRouter(include_in_schema=False)  # behind the token
public = APIRouter(include_in_schema=False)  # /login, /logout


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


templates.env.filters["seconds"] = _fmt_seconds
templates.env.filters["score"] = _fmt_score
templates.env.filters["colour"] = svg.score_colour
templates.env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
templates.env.filters["evidence"] = GradeEvidence.from_details  # a refused grade's evidence, read defensively


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "diff --git", "index ", "new file", "deleted file")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


templates.env.filters["diff_lines"] = _diff_lines

# Event payload fields that name a node or an evaluation: shown as links (run.js does the same live).
PAYLOAD_LINKS = {"node_id": "/nodes/", "parent_id": "/nodes/", "best_node_id": "/nodes/",
                 "evaluation_id": "/evaluations/"}


def _payload_parts(payload: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(key, value as text, link or None) for each field of an event's payload."""
    parts = []
    for key, value in (payload or {}).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        linked = PAYLOAD_LINKS.get(key) if isinstance(value, int) and not isinstance(value, bool) else None
        parts.append((str(key), text, f"{linked}{value}" if linked else None))
    return parts


templates.env.filters["payload_parts"] = _payload_parts


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


# -- login ---------------------------------------------------------------------
@public.get("/login")
def login(request: Request, token: str | None = Query(None), code: str | None = Query(None),
          next: str = Query("/")) -> Response:
    """Trade the token (or a one-time code that `clade serve` printed) for a cookie."""
    auth: TokenAuth = request.app.state.auth
    if not (auth.check_token(token) or auth.redeem_login_code(code)):
        return render(request, "login_needed.html", status_code=401, reason="this login link is not valid (any more)")
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE_NAME, auth.session_value, httponly=True, samesite="strict", path="/",
                        max_age=30 * 24 * 3600)
    return response


@public.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# -- runs -----------------------------------------------------------------------
def _posted_example(data: Any) -> Any:
    """An example run file as the API takes it: backends by name (their
    keys and URLs are the server's, see api/posted.py)."""
    models = data.get("models") if isinstance(data, dict) else None
    if isinstance(models, dict) and isinstance(models.get("backends"), list):
        models["backends"] = [b.get("name", "local") if isinstance(b, dict) else b for b in models["backends"]]
    return data


def _examples() -> dict[str, Any]:
    defaults = as_posted(RunConfig())
    for role in ("backends", "solve", "self_improve", "diagnosis"):  # left out: the server's own
        defaults["models"].pop(role, None)
    examples: dict[str, Any] = {"defaults": defaults}
    if EXAMPLES_DIR.is_dir():
        for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
            try:
                examples[path.stem] = _posted_example(yaml.safe_load(path.read_text()))
            except (OSError, yaml.YAMLError):
                continue
    return examples


@pages.get("/", response_class=HTMLResponse)
def runs_page(request: Request, archive: ArchiveDep, supervisor: SupervisorDep) -> Response:
    runs = [services.run_summary(run, supervisor) for run in reversed(archive.repo.list_runs())]
    examples = _examples()
    first = "quick-local" if "quick-local" in examples else "defaults"
    return render(request, "runs.html", runs=runs, examples=examples, first_example=first,
                  first_config=json.dumps(examples[first], indent=2))


def _run_context(archive, supervisor, run_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    detail = services.run_detail(archive, supervisor, run_id)
    return {"run": detail}


def _tree_svg(archive, detail: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    tree = tree_columns(archive.db, detail["id"], hint=queries.RUN_HINT)
    under_way = detail["under_way"]
    return svg.tree_svg(tree, building=set(under_way["expansions"]), evaluating=set(under_way["evaluating_nodes"]),
                        best_node_id=detail["best_node_id"],
                        leader_id=(detail["leader"] or {}).get("id"))


def _charts(archive, run_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    points = services.run_timeline(archive, run_id)["points"]
    best = svg.step_points([(p["t"], p["best_score"]) for p in points])
    rate = [(p["t"], p["resolved"] / p["evaluations"]) for p in points if p["evaluations"]]
    series = [("best node", "#1a7f37", best), ("all evaluations", "#6e7781", rate)]
    if points and points[-1].get("tampered"):  # the share of refused grades, only once there is one
        caught = [(p["t"], p["tampered"] / p["evaluations"]) for p in points if p["evaluations"]]
        series.append(("tampered", svg.TAMPERED_COLOUR, caught))
    score = svg.line_chart(series, title="Score over time", y_label="resolved", y_max=1.0)
    tokens = [(p["t"], p["tokens"] / 1000) for p in points]
    usd = points[-1]["cost_usd"] if points else 0.0
    cost = svg.line_chart([("tokens (k)", "#0969da", tokens)],
                          title=f"Cost over time ({usd:.4f} USD)", y_label="k tokens", y_format="{:.1f}")
    return {"score": score, "cost": cost}


@pages.post("/runs/config-as-json")
async def config_as_json(request: Request) -> Response:
    """A run configuration typed on the runs page, as JSON or YAML (JSON is YAML), read into the JSON that
    POST /api/runs takes: the page has no YAML parser of its own and loads nothing from elsewhere."""
    text = (await request.body()).decode("utf-8", "replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return field_errors([((), f"the configuration is neither JSON nor YAML{where}: {problem}")], "yaml_invalid")
    if not isinstance(data, dict):
        return field_errors([((), "the configuration must be a mapping of sections (name:, budget:, ...)")])
    try:  # YAML has dates and .nan; the API takes JSON: dates as text, no NaN
        body = json.dumps(data, allow_nan=False, default=str)
    except ValueError:
        return field_errors([((), "numbers must be finite (no .nan or .inf)")])
    return Response(body, media_type="application/json")


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: RunId, request: Request, archive: ArchiveDep, supervisor: SupervisorDep) -> Response:
    context = _run_context(archive, supervisor, run_id)
    engine_log = _engine_log_tail(archive, run_id) if not context["run"]["engine_alive"] else ""
    return render(request, "run.html", tree_svg=_tree_svg(archive, context["run"]), charts=_charts(archive, run_id),
                  events=[services.event_out(e) for e in _last_events(archive, run_id)],
                  engine_log=engine_log, **context)


def _last_events(archive, run_id: int, count: int = 30):  # type: ignore[no-untyped-def]
    last = archive.repo.get_run(run_id).last_event_seq
    return archive.repo.events_since(run_id, max(last - count, 0), count)


def _engine_log_tail(archive, run_id: int, size: int = 4000) -> str:  # type: ignore[no-untyped-def]
    """The end of the detached engine's output (a fixed file in the run's folder)."""
    path = archive.home.run_dir(int(run_id)) / "engine.log"
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(handle.tell() - size, 0))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


@pages.get("/runs/{run_id}/partials/tree", response_class=HTMLResponse)
def tree_partial(run_id: RunId, archive: ArchiveDep, supervisor: SupervisorDep) -> Response:
    detail = services.run_detail(archive, supervisor, run_id)
    return HTMLResponse(_tree_svg(archive, detail))


@pages.get("/runs/{run_id}/partials/summary", response_class=HTMLResponse)
def summary_partial(run_id: RunId, request: Request, archive: ArchiveDep, supervisor: SupervisorDep) -> Response:
    return render(request, "_run_summary.html", **_run_context(archive, supervisor, run_id))


@pages.get("/runs/{run_id}/partials/charts", response_class=HTMLResponse)
def charts_partial(run_id: RunId, archive: ArchiveDep) -> Response:
    archive.repo.get_run(run_id)
    charts = _charts(archive, run_id)
    return HTMLResponse(charts["score"] + charts["cost"])


NODE_COLUMNS = [("id", "id"), ("status", "status"), ("depth", "depth"), ("score", "own score"),
                ("evaluations", "evaluations"), ("cmp", "clade (CMP)"), ("children", "children"),
                ("tokens", "tokens"), ("cost", "cost (USD)")]
NODE_TABLE_PAGE = 200


@pages.get("/runs/{run_id}/nodes", response_class=HTMLResponse)
def node_table_page(run_id: RunId, request: Request, archive: ArchiveDep,
                    sort: NodeSort = Query("score"), order: Literal["asc", "desc"] = Query("desc"),
                    offset: int = Query(0, ge=0, le=MAX_ID)) -> Response:
    """Every node of a run in a table sorted by a column (a header click sorts by it, again reverses)."""
    run = archive.repo.get_run(run_id)
    page = services.node_page(archive, run_id, offset, NODE_TABLE_PAGE, sort, order)
    return render(request, "nodes.html", run=run, page=page, columns=NODE_COLUMNS, sort=sort, order=order,
                  step=NODE_TABLE_PAGE)


@pages.get("/runs/{run_id}/compare", response_class=HTMLResponse)
def compare_page(run_id: RunId, request: Request, archive: ArchiveDep,
                 a: int | None = Query(None, ge=1, le=MAX_ID), b: int | None = Query(None, ge=1, le=MAX_ID),
                 more: list[int] = Query([])) -> Response:
    """Two nodes' code diff and a task × node matrix; without both ids, the form to choose them."""
    run = archive.repo.get_run(run_id)
    chosen = [n for n in (a, b, *more[:MAX_COMPARED - 2]) if n is not None]
    result = compare_nodes(archive, run_id, chosen) if a is not None and b is not None else None
    return render(request, "compare.html", run=run, result=result, a=a, b=b)


# -- nodes and evaluations ----------------------------------------------------------
@pages.get("/nodes/{node_id}", response_class=HTMLResponse)
def node_page(node_id: NodeId, request: Request, archive: ArchiveDep) -> Response:
    node = services.node_detail(archive, node_id)
    run = archive.repo.get_run(node["run_id"])
    return render(request, "node.html", node=node, run=run, is_best=run.best_node_id == node_id)


@pages.get("/nodes/{node_id}/logs/{name}", response_class=HTMLResponse)
def node_log_page(node_id: NodeId, name: str, request: Request, archive: ArchiveDep) -> Response:
    from api.logs import node_log_dir

    node = archive.repo.get_node(node_id)
    text, truncated = read_log(node_log_dir(archive, node.run_id, node_id), name)
    return render(request, "log.html", title=f"node {node_id}: {name}", back=f"/nodes/{node_id}",
                  text=text, truncated=truncated, entries=_trajectory(text) if name.endswith(".jsonl") else None)


def _trajectory(text: str) -> list[dict[str, Any]]:
    """trajectory.jsonl as entries a template can show (an evolved agent may
    write anything: unknown lines are shown as they are)."""
    entries = []
    origin: float | None = None
    for number, line in enumerate(text.splitlines()):
        if len(entries) >= MAX_TRAJECTORY_ENTRIES:
            entries.append({"kind": "note", "label": "…", "body": f"{len(text.splitlines()) - number} more lines"})
            break
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            entries.append({"kind": "raw", "label": "line", "body": line[:MAX_ENTRY_CHARS]})
            continue
        if not isinstance(item, dict):
            entries.append({"kind": "raw", "label": "line", "body": line[:MAX_ENTRY_CHARS]})
            continue
        kind = str(item.get("type") or "entry")
        if kind == "message":
            role = str(item.get("role") or "message")
            body = item.get("content")
            if not isinstance(body, str):
                body = "" if body is None else json.dumps(body, indent=2, default=str)
            calls = item.get("tool_calls") or []
            for call in calls if isinstance(calls, list) else []:
                function = (call or {}).get("function") or {} if isinstance(call, dict) else {}
                body = (body + "\n" if body else "") + f"→ {function.get('name', '?')}({function.get('arguments', '')})"
            entries.append({"kind": role, "label": role, "body": (body or "")[:MAX_ENTRY_CHARS]})
        elif kind == "tool":
            args = json.dumps(item.get("args"), ensure_ascii=False, default=str)
            result = item.get("result")
            result = result if isinstance(result, str) else json.dumps(result, indent=2, default=str)
            entries.append({"kind": "tool", "label": f"tool {item.get('tool', '?')}",
                            "body": f"{args}\n\n{result or ''}"[:MAX_ENTRY_CHARS]})
        else:
            rest = {k: v for k, v in item.items() if k not in ("type", "time")}
            entries.append({"kind": kind, "label": kind,
                            "body": json.dumps(rest, indent=2, default=str)[:MAX_ENTRY_CHARS]})
        stamp = item.get("time")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):  # when it was logged, from the first
            origin = stamp if origin is None else origin
            entries[-1]["at"] = stamp - origin
    return entries


@pages.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_page(evaluation_id: EvaluationId, request: Request, archive: ArchiveDep,
                    name: str = Query("trajectory.jsonl", max_length=128)) -> Response:
    evaluation = archive.repo.get_evaluation(evaluation_id)
    data = services.evaluation_out(archive, evaluation)
    text, truncated, missing = "", False, None
    names = [log["name"] for log in data["logs"]]
    if names:
        try:
            text, truncated = read_log(evaluation_log_dir(archive, evaluation), name)
        except NotFound:
            missing = name
    trajectory = name.endswith(".jsonl") and bool(text)
    timing = step_timing(text, archive.repo.llm_calls(evaluation_id=evaluation_id)) if trajectory else None
    return render(request, "evaluation.html", evaluation=data, current=name, names=names, text=text,
                  truncated=truncated, missing=missing, timing=timing,
                  entries=_trajectory(text) if trajectory else None)


# -- the API reference, drawn from the OpenAPI document --------------------------------
@pages.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    schema = request.app.openapi()
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [f"{p['name']} ({p['in']})" for p in op.get("parameters", [])]
            operations.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                               "description": op.get("description", ""), "params": params,
                               "body": "requestBody" in op})
    return render(request, "docs.html", operations=operations)
