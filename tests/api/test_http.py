"""The API over real HTTP (uvicorn on a loopback port), on an archive
populated without an engine: authentication, validation, the tree, nodes,
logs, exports, the event stream, and run control."""

from __future__ import annotations

import io
import json
import stat
import tarfile
import threading
import time

import httpx
import pytest

from api.auth import COOKIE_NAME, token_path
from archive import Archive, CladeHome, Outcome, RunStatus
from archive.export import MANIFEST_NAME
from tests.api.populate import PROPOSAL, populate_run


@pytest.fixture
def run_ids(archive: Archive) -> dict:
    return populate_run(archive)


# -- authentication -----------------------------------------------------------------
def test_every_route_but_healthz_needs_the_token(serve_app, run_ids, clade_home: CladeHome) -> None:
    server = serve_app()
    mode = stat.S_IMODE(token_path(clade_home).stat().st_mode)
    assert mode == 0o600
    assert token_path(clade_home).read_text().strip() == server.token

    spec = server.client().get("/api/openapi.json").json()
    ids = {"run_id": run_ids["run"], "node_id": run_ids["best"], "evaluation_id": run_ids["evaluations"][0]}
    routes = [(method.upper(), path.format(**ids)) for path, ops in spec["paths"].items() for method in ops]
    routes += [("GET", p) for p in ("/", f"/runs/{run_ids['run']}", f"/nodes/{run_ids['best']}", "/docs",
                                    "/api/openapi.json", "/api/no-such-route")]
    assert ("GET", "/api/runs/{id}/tree".replace("{id}", str(run_ids["run"]))) in routes
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"
        style = anonymous.get("/static/app.css")  # public: the login page needs it, and it holds nothing secret
        assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
        assert anonymous.get("/static/api_token").status_code == 404
        for method, path in routes:
            if path == "/healthz":
                continue
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": server.token},
                            {"Cookie": f"{COOKIE_NAME}={server.token}"}):
                response = anonymous.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
    # nothing was started or changed by the refused requests
    assert server.launched == []


def test_login_link_sets_an_httponly_cookie_and_codes_work_once(serve_app, run_ids) -> None:
    server = serve_app()
    code = server.app.state.auth.issue_login_code()
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert browser.get("/", headers={"Accept": "text/html"}).status_code == 401
        response = browser.get(f"/login?code={code}&next=/runs/{run_ids['run']}")
        assert response.status_code == 303 and response.headers["location"] == f"/runs/{run_ids['run']}"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert server.token not in cookie  # the cookie holds a derived value, not the token
        page = browser.get(f"/runs/{run_ids['run']}")
        assert page.status_code == 200 and "<svg" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # a cookie-authenticated state change from another site is refused
        cross = browser.post(f"/api/runs/{run_ids['run']}/cancel", headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403
        assert browser.get("/logout").status_code == 303
    with httpx.Client(base_url=server.url, timeout=30) as other:
        assert other.get(f"/login?code={code}").status_code == 401  # used once already
        assert other.get("/login?code=made-up").status_code == 401
        assert other.get("/login?token=wrong").status_code == 401
        ok = other.get(f"/login?token={server.token}&next=//evil.example/")
        assert ok.status_code == 303 and ok.headers["location"] == "/"


# -- starting runs and validation ------------------------------------------------------
def test_bad_configs_get_422_naming_each_field(serve_app, archive: Archive) -> None:
    server = serve_app()
    bad = {
        "workers": "many",
        "budget": {"task_evaluations": 0, "usd": -1},
        "policy": {"name": "hgm", "params": {"alpha": 0.6, "no_such_param": 1}},
        "models": {"backends": [{"name": "local", "max_concurrency": 0}]},  # a posted backend is a name only
        "sandbox": {"memory": "lots"},
        "unknown_section": {},
    }
    with server.client() as client:
        response = client.post("/api/runs", json=bad)
        assert response.status_code == 422, response.text
        fields = {e["field"] for e in response.json()["detail"]}
        assert {"workers", "budget.task_evaluations", "budget.usd", "policy", "models.backends.0",
                "sandbox.memory", "unknown_section"} <= fields, fields
        assert all(e["loc"][0] == "body" for e in response.json()["detail"])
        roles = client.post("/api/runs", json={"models": {"solve": "nowhere"}})
        assert roles.status_code == 422 and roles.json()["detail"][0]["field"] == "models.solve"
        assert "nowhere" in roles.json()["detail"][0]["msg"]
        tasks = client.post("/api/runs", json={"benchmark": {"tasks": ["no-such-task"]}})
        assert tasks.status_code == 422 and tasks.json()["detail"][0]["field"] == "benchmark"
        outside = client.post("/api/runs", json={"prompts": {"folder": "/etc"}})
        assert outside.status_code == 422 and outside.json()["detail"][0]["field"] == "prompts.folder"
        sneaky = client.post("/api/runs", json={"prompts": {"folder": str(archive.home.root / ".." / "..")}})
        assert sneaky.status_code == 422
        for name in ("swebench:/etc/data.jsonl", "swebench:~", "polyglot:../../..", "swebench:~/x.parquet"):
            refused = client.post("/api/runs", json={"benchmark": {"name": name}})
            assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "benchmark.name", name
            assert "folders this server may read" in refused.json()["detail"][0]["msg"]
        for junk in (b"{not json", b"\xce\x8ce\xff\x1b"):
            assert client.post("/api/runs", content=junk, headers={"Content-Type": "application/json"}
                               ).status_code == 422
    assert archive.repo.list_runs() == [] and server.launched == []


def test_a_good_config_creates_and_launches_a_run(serve_app, archive: Archive) -> None:
    server = serve_app()
    with server.client() as client:
        response = client.post("/api/runs", json={"name": "api-start", "benchmark": {"subset": "small"},
                                                  "budget": {"task_evaluations": 5}})
        assert response.status_code == 201, response.text
        run = response.json()
        assert run["name"] == "api-start" and run["status"] == "created" and run["nodes"] == 1
        assert run["config"]["budget"]["task_evaluations"] == 5 and run["budget"]["task_evaluations"] == 5
        assert server.launched == [run["id"]]
        only_recorded = client.post("/api/runs?start=false", json={"name": "later"}).json()
        assert server.launched == [run["id"]]
        assert client.post(f"/api/runs/{only_recorded['id']}/resume").status_code == 200
        assert server.launched == [run["id"], only_recorded["id"]]
        listed = client.get("/api/runs").json()
        assert [r["id"] for r in listed["runs"]] == [run["id"], only_recorded["id"]] and listed["total"] == 2
        assert [r["id"] for r in client.get("/api/runs", params={"offset": 1, "limit": 1}).json()["runs"]] == [
            only_recorded["id"]]
    assert archive.repo.events_since(run["id"])[0].kind == "run_created"


def test_pause_resume_cancel(serve_app, archive: Archive) -> None:
    ids = populate_run(archive, status=RunStatus.RUNNING)
    server = serve_app()
    run_id = ids["run"]
    with server.client() as client:
        paused = client.post(f"/api/runs/{run_id}/pause")
        assert paused.status_code == 200 and paused.json()["run"]["status"] == "paused"
        resumed = client.post(f"/api/runs/{run_id}/resume")
        assert resumed.status_code == 200 and server.launched == [run_id]
        cancelled = client.post(f"/api/runs/{run_id}/cancel").json()
        assert cancelled["run"]["status"] == "cancelled"
        for action in ("pause", "resume", "cancel"):
            again = client.post(f"/api/runs/{run_id}/{action}")
            assert again.status_code == 409 and "cancelled" in again.json()["detail"][0]["msg"]
        assert client.post("/api/runs/999999/pause").status_code == 404
        no_best = client.get(f"/api/runs/{run_id}/best/export")
        assert no_best.status_code == 409 and "no best node yet" in no_best.json()["detail"][0]["msg"]


# -- the tree, nodes, evaluations ------------------------------------------------------------
def test_tree_matches_the_archive(serve_app, archive: Archive, run_ids) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from archive_scale import populate

    big = populate(archive, 1500, 9000, seed=3)
    server = serve_app()
    with server.client() as client:
        for run_id in (run_ids["run"], big):
            tree = client.get(f"/api/runs/{run_id}/tree").json()
            expected = archive.repo.tree(run_id)
            assert tree["count"] == len(expected) == len(tree["id"]) == len(tree["cmp"])
            seen = set()
            for i, node_id in enumerate(tree["id"]):
                node = expected[node_id]
                assert tree["parent_id"][i] == node.parent_id and tree["status"][i] == node.status
                assert tree["parent_id"][i] is None or tree["parent_id"][i] in seen  # parents first
                seen.add(node_id)
                assert (tree["own_resolved"][i], tree["own_total"][i]) == (node.own_resolved, node.own_total)
                assert (tree["clade_resolved"][i], tree["clade_total"][i]) == (node.clade_resolved, node.clade_total)
                assert tree["depth"][i] == node.depth
                assert tree["cmp"][i] == (round(node.clade_resolved / node.clade_total, 4) if node.clade_total else None)
            pages, offset = [], 0
            while True:
                page = client.get(f"/api/runs/{run_id}/nodes", params={"offset": offset, "limit": 400}).json()
                pages += page["nodes"]
                offset += 400
                if offset >= page["total"]:
                    break
            assert [n["id"] for n in pages] == tree["id"]
            assert sum(n["children"] for n in pages) == tree["count"] - 1
        assert client.get("/api/runs/424242/tree").status_code == 404
        assert client.get(f"/api/runs/{big}/nodes", params={"limit": 0}).status_code == 422


def test_run_detail_node_detail_and_logs(serve_app, archive: Archive, run_ids) -> None:
    server = serve_app()
    with server.client() as client:
        run = client.get(f"/api/runs/{run_ids['run']}").json()
        assert run["status"] == "finished" and run["best_node_id"] == run_ids["best"]
        assert run["best_node"] == {"id": run_ids["best"], "own_resolved": 3, "own_total": 3, "score": 1.0}
        assert run["nodes_by_status"] == {"valid": 4, "invalid": 1}
        assert run["budget"]["evaluations_spent"] == len(run_ids["evaluations"])

        node = client.get(f"/api/nodes/{run_ids['best']}").json()
        assert node["proposal"] == PROPOSAL and node["entry_task"]
        assert node["diff"].startswith("diff --git a/agent/prompts.py b/agent/prompts.py")
        assert "+SYSTEM += " in node["diff"] and "Run the tests before you finish." in node["diff"]
        assert node["validation"] == {"passed": True, "stage": "passed", "reason": None}
        assert [e["outcome"] for e in node["evaluations"]] == ["resolved"] * 3
        assert node["children"] and node["ancestors"] == [run_ids["root"]]
        assert {log["name"] for log in node["logs"]} == {"proposal.json", "validation.log"}
        assert node["usage"]["calls"] == 4
        invalid = client.get(f"/api/nodes/{run_ids['invalid']}").json()
        assert invalid["validation"]["passed"] is False and invalid["validation"]["stage"] == "tests"
        assert "test_system_prompt" in invalid["validation"]["reason"]
        assert "1 failed" in client.get(f"/api/nodes/{run_ids['invalid']}/log", params={"name": "validation.log"}).text
        assert client.get(f"/api/nodes/{run_ids['best']}?diff=false").json()["diff"] is None

        evaluation_id = run_ids["evaluations"][0]
        evaluation = client.get(f"/api/evaluations/{evaluation_id}").json()
        assert "log_path" not in evaluation
        assert {"trajectory.jsonl", "test_output.txt"} <= {log["name"] for log in evaluation["logs"]}
        trajectory = client.get(f"/api/evaluations/{evaluation_id}/log")
        assert trajectory.headers["content-type"].startswith("text/plain")
        assert json.loads(trajectory.text.splitlines()[0])["role"] == "system"
        # nothing outside the evaluation's own folder can be named
        for name in ("../../../clade.db", "..", "/etc/passwd", "../node-2/validation.log", "%2e%2e", "api_token"):
            refused = client.get(f"/api/evaluations/{evaluation_id}/log", params={"name": name})
            assert refused.status_code in (404, 422), (name, refused.text)
        assert client.get(f"/api/evaluations/{evaluation_id}/log/../../api_token").status_code in (404, 422)
        assert client.get("/static/..%2f..%2fapi_token").status_code == 404


def test_a_run_s_evaluations_a_page_at_a_time(serve_app, archive: Archive, run_ids) -> None:
    server = serve_app()
    stored = archive.repo.run_evaluations(run_ids["run"])
    with server.client() as client:
        pages, offset = [], 0
        while True:
            page = client.get(f"/api/runs/{run_ids['run']}/evaluations", params={"offset": offset, "limit": 3}).json()
            assert page["total"] == len(stored) and page["limit"] == 3
            if not page["evaluations"]:
                break
            pages.append(page["evaluations"])
            offset += 3
        rows = [row for page in pages for row in page]
        assert [(r["id"], r["task_id"], r["outcome"]) for r in rows] == [
            (e.id, e.task_id, e.outcome.value if e.outcome else None) for e in stored]
        assert all("log_path" not in r and r["run_id"] == run_ids["run"] for r in rows)
        resolved = client.get(f"/api/runs/{run_ids['run']}/evaluations", params={"outcome": "resolved"}).json()
        assert resolved["total"] == sum(e.outcome == Outcome.RESOLVED for e in stored) > 0
        assert {r["outcome"] for r in resolved["evaluations"]} == {"resolved"}
        assert client.get(f"/api/runs/{run_ids['run']}/evaluations", params={"outcome": "great"}).status_code == 422
        assert client.get("/api/runs/999999/evaluations").status_code == 404


def test_a_log_path_outside_the_run_is_never_read(serve_app, archive: Archive, run_ids) -> None:
    server = serve_app()
    other = archive.repo.start_evaluation(run_ids["root"], "elsewhere")
    archive.repo.finish_evaluation(other.id, archive.repo.get_evaluation(run_ids["evaluations"][0]).outcome,
                                   log_path=str(archive.home.root))  # CLADE_HOME itself: holds api_token
    (archive.home.root / "trajectory.jsonl").write_text("secret\n")
    with server.client() as client:
        assert client.get(f"/api/evaluations/{other.id}").json()["logs"] == []
        response = client.get(f"/api/evaluations/{other.id}/log", params={"name": "trajectory.jsonl"})
        assert response.status_code == 404 and "secret" not in response.text
        assert client.get(f"/api/evaluations/{other.id}/log", params={"name": "api_token"}).status_code == 404


def test_exports(serve_app, archive: Archive, run_ids, tmp_path) -> None:
    server = serve_app()
    with server.client() as client:
        best = client.get(f"/api/runs/{run_ids['run']}/best/export")
        assert best.status_code == 200 and best.headers["content-type"] == "application/gzip"
        assert f"clade-run{run_ids['run']}-best-agent.tar.gz" in best.headers["content-disposition"]
        with tarfile.open(fileobj=io.BytesIO(best.content)) as tar:
            manifest = json.load(tar.extractfile(MANIFEST_NAME))
            prompts = tar.extractfile("agent/prompts.py").read().decode()
        assert manifest["node"]["id"] == run_ids["best"]
        assert [a["id"] for a in manifest["ancestors"]] == [run_ids["root"]]
        assert "Run the tests before you finish." in prompts
        bundle = client.get(f"/api/nodes/{run_ids['children'][2]}/export", params={"format": "bundle"})
        assert bundle.status_code == 200 and bundle.content.startswith(b"# v2 git bundle")
        assert client.get(f"/api/nodes/{run_ids['best']}/export", params={"format": "zip"}).status_code == 422
    leftovers = [p for p in tmp_path.parent.glob("clade-api-export-*")]
    assert leftovers == []


# -- events ------------------------------------------------------------------------------------
def _read_sse(response: httpx.Response, stop_at_end: bool = True, limit: int = 1000) -> list[tuple[str, dict]]:
    frames, current = [], {}
    for line in response.iter_lines():
        if line == "":
            if "data" in current:
                frames.append((current.get("event", "message"), json.loads(current["data"]), current.get("id")))
                if current.get("event") == "end" and stop_at_end:
                    break
            current = {}
            if len(frames) >= limit:
                break
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        current[key] = value.lstrip(" ")
    return frames


def test_event_stream_resumes_from_a_sequence_number(serve_app, archive: Archive, run_ids) -> None:
    server = serve_app(sse_poll_seconds=0.1)
    run_id = run_ids["run"]
    last = archive.repo.get_run(run_id).last_event_seq
    with server.client() as client:
        with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = _read_sse(response)
        events = [f for f in frames if f[0] == "message"]
        assert [e[1]["seq"] for e in events] == list(range(1, last + 1))
        assert [e[2] for e in events] == [str(s) for s in range(1, last + 1)]
        assert events[-1][1]["kind"] == "run_finished" and frames[-1][0] == "end"
        with client.stream("GET", f"/api/runs/{run_id}/events?after=5") as response:
            assert [f[1]["seq"] for f in _read_sse(response) if f[0] == "message"][0] == 6
        with client.stream("GET", f"/api/runs/{run_id}/events?after=1", headers={"Last-Event-ID": "10"}) as response:
            assert [f[1]["seq"] for f in _read_sse(response) if f[0] == "message"][0] == 11
        listed = client.get(f"/api/runs/{run_id}/event-log", params={"after": last - 2}).json()
        assert [e["seq"] for e in listed["events"]] == [last - 1, last] and listed["last_seq"] == last
        assert client.get("/api/runs/9999/events").status_code == 404


def test_event_stream_follows_a_live_run(serve_app, archive: Archive) -> None:
    ids = populate_run(archive, status=RunStatus.RUNNING)
    run_id = ids["run"]
    server = serve_app(sse_poll_seconds=0.1)
    start = archive.repo.get_run(run_id).last_event_seq

    def engine() -> None:  # another process would do this; the stream only reads the archive
        for k in range(3):
            time.sleep(0.3)
            archive.repo.append_event(run_id, "evaluation_finished", {"node_id": ids["root"], "k": k})
        archive.repo.set_run_status(run_id, RunStatus.FINISHED)
        archive.repo.append_event(run_id, "run_finished", {"best_node_id": None})

    writer = threading.Thread(target=engine)
    with server.client() as client, client.stream("GET", f"/api/runs/{run_id}/events?after={start}") as response:
        writer.start()
        frames = _read_sse(response)
    writer.join()
    kinds = [f[1]["kind"] for f in frames if f[0] == "message"]
    assert kinds == ["evaluation_finished"] * 3 + ["run_finished"]
    assert frames[-1][0] == "end" and frames[-1][1]["status"] == "finished"


def test_event_stream_closes_after_its_time_limit(serve_app, archive: Archive) -> None:
    ids = populate_run(archive, status=RunStatus.PAUSED)
    server = serve_app(sse_poll_seconds=0.1, sse_max_seconds=1.0)
    started = time.monotonic()
    with server.client() as client, client.stream("GET", f"/api/runs/{ids['run']}/events?after=100000") as response:
        frames = _read_sse(response)
    assert frames == [] and time.monotonic() - started < 10


# -- pages ---------------------------------------------------------------------------------------
def test_pages_render(serve_app, archive: Archive, run_ids) -> None:
    live = populate_run(archive, status=RunStatus.RUNNING, name="live")
    server = serve_app()
    with server.client() as client:
        runs = client.get("/", headers={"Accept": "text/html"})
        assert runs.status_code == 200 and "api-test" in runs.text and "Start a run" in runs.text
        page = client.get(f"/runs/{live['run']}").text
        assert f'data-id="{live["building"]}"' in page
        assert 'class="node building expanding"' in page  # the node being built is marked
        grandchild = live["children"][2]
        assert 'class="node valid evaluating' in page and f'href="/nodes/{grandchild}" class="node valid evaluating' in page
        node = client.get(f"/nodes/{run_ids['best']}").text
        assert "Run the tests before you finish." in node and 'class="d-add"' in node
        evaluation = client.get(f"/evaluations/{run_ids['evaluations'][0]}").text
        assert "entry-system" in evaluation and "tool bash" in evaluation
        missing = client.get("/nodes/999999", headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "no node with id 999999" in missing.text
        assert client.get("/docs").status_code == 200
        assert client.get("/static/run.js").headers["content-type"].startswith("text/javascript")
