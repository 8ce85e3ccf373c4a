"""The main flow, for real: `clade serve` as its own process, a run started
with POST /api/runs against the scripted model server (behind the real
gateway, in real Docker sandboxes), watched live in the browser, finished;
its tree, events and exported best agent checked over HTTP."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from api.posted import as_posted
from api.server import start_background_server
from archive import Archive, CladeHome, NodeStatus
from archive.export import MANIFEST_NAME
from evolve.runs import engine_alive
from tests.api.conftest import chromium_available, open_browser, screenshot
from tests.evolve.conftest import engine_config, engine_tasks, scripted_world  # noqa: F401 - fixtures
from tests.evolve.scripted_world import CAREFUL

pytestmark = pytest.mark.docker


def _sse(client: httpx.Client, path: str) -> list[tuple[str, dict]]:
    frames, current = [], {}
    with client.stream("GET", path) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if "data" in current:
                    frames.append((current.get("event", "message"), json.loads(current["data"])))
                    if current.get("event") == "end":
                        break
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                current[key] = value.lstrip(" ")
    return frames


def test_a_run_started_over_the_api_finishes_and_exports(
    archive: Archive, clade_home: CladeHome, sandbox_image: str, scripted_world, tmp_path: Path, artifacts: Path,  # noqa: F811
) -> None:
    config = engine_config(scripted_world, budget__task_evaluations=8, budget__expansions=3,
                           policy__params={"alpha": 0.6, "initial_expansions": 3, "root_evaluations": 2})
    # the scripted model is the server's backend (its operator's choice); the posted run names it
    server = start_background_server(clade_home, log_path=tmp_path / "serve.log", backends=config.models.backends)
    run_id = None
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            assert httpx.get(f"{server.url}/api/runs", timeout=10).status_code == 401
            started = client.post("/api/runs", json=as_posted(config))
            assert started.status_code == 201, started.text
            run_id = started.json()["id"]

            browser_cm = open_browser(tmp_path / "downloads") if chromium_available() else None
            driver = browser_cm.__enter__() if browser_cm else None
            try:
                if driver is not None:
                    from selenium.webdriver.common.by import By
                    from selenium.webdriver.support.ui import WebDriverWait

                    driver.get(server.login_url.replace("/login?", f"/login?next=/runs/{run_id}&"))
                    WebDriverWait(driver, 240, poll_frequency=0.2).until(
                        lambda d: d.find_elements(By.CSS_SELECTOR, "#tree a.node.evaluating, #tree a.node.expanding"))
                    screenshot(driver, artifacts, "10-live-run-working")

                deadline = time.monotonic() + 900
                while True:
                    run = client.get(f"/api/runs/{run_id}").json()
                    if run["status"] in ("finished", "failed", "cancelled") and not run["engine_alive"]:
                        break
                    assert time.monotonic() < deadline, f"the run did not finish: {run}"
                    time.sleep(1)
                assert run["status"] == "finished", (run, server.log_path.read_text()[-3000:])
                if driver is not None:
                    WebDriverWait(driver, 60).until(
                        lambda d: "stopped" in d.find_element(By.ID, "stream-state").text)
                    WebDriverWait(driver, 30).until(
                        lambda d: not d.find_elements(By.CSS_SELECTOR, "#tree a.node.evaluating"))
                    time.sleep(2)
                    screenshot(driver, artifacts, "11-live-run-finished")
            finally:
                if browser_cm is not None:
                    browser_cm.__exit__(None, None, None)

            # The run as the API reports it matches the archive.
            assert run["best_node_id"] is not None and run["best_node"]["id"] == run["best_node_id"]
            assert run["budget"]["evaluations_spent"] == 8 and run["under_way"]["evaluations"] == []
            tree = client.get(f"/api/runs/{run_id}/tree").json()
            expected = archive.repo.tree(run_id)
            assert tree["count"] == len(expected) == 4  # the seed and three expansions
            for i, node_id in enumerate(tree["id"]):
                node = expected[node_id]
                assert (tree["parent_id"][i], tree["status"][i]) == (node.parent_id, node.status)
                assert (tree["own_resolved"][i], tree["own_total"][i]) == (node.own_resolved, node.own_total)
                assert (tree["clade_resolved"][i], tree["clade_total"][i]) == (node.clade_resolved, node.clade_total)
            root = tree["id"].index(next(n for n in expected.values() if n.parent_id is None).id)
            assert tree["clade_total"][root] == 8 and tree["own_resolved"][root] == 0
            children = [i for i in range(tree["count"]) if tree["parent_id"][i] is not None]
            assert all(tree["status"][i] == NodeStatus.VALID.value for i in children)
            assert run["best_node_id"] in {tree["id"][i] for i in children}

            best = client.get(f"/api/nodes/{run['best_node_id']}").json()
            assert CAREFUL in best["diff"] and best["proposal"]["improvement_proposal"]
            assert best["validation"]["passed"] is True and "validation.log" in {l["name"] for l in best["logs"]}
            first = best["evaluations"][0]
            assert first["outcome"] == "resolved"
            assert "trajectory.jsonl" in {l["name"] for l in first["logs"]}
            assert client.get(f"/api/evaluations/{first['id']}/log").text.strip()

            exported = client.get(f"/api/runs/{run_id}/best/export")
            assert exported.status_code == 200
            with tarfile.open(fileobj=io.BytesIO(exported.content)) as tar:
                manifest = json.load(tar.extractfile(MANIFEST_NAME))
                prompts = tar.extractfile("agent/prompts.py").read().decode()
            assert CAREFUL in prompts and manifest["node"]["id"] == run["best_node_id"]
            assert manifest["ancestors"][0]["parent_id"] is None

            # what `make demo` calls: the same export through the helper
            saved = server.export_best(run_id, tmp_path / "best.tar.gz")
            with tarfile.open(saved) as tar:
                assert json.load(tar.extractfile(MANIFEST_NAME))["node"]["id"] == run["best_node_id"]
            assert server.wait(run_id, timeout=30)["status"] == "finished"

            frames = _sse(client, f"/api/runs/{run_id}/events")
            kinds = [f[1]["kind"] for f in frames if f[0] == "message"]
            assert kinds[0] == "run_created" and kinds[1] == "run_started" and kinds[-1] == "run_finished"
            assert kinds.count("evaluation_finished") == 8 and kinds.count("expansion_finished") == 3
            assert frames[-1] == ("end", {"status": "finished", "last_seq": len(kinds)})
            assert [f[1]["seq"] for f in frames[:-1]] == list(range(1, len(kinds) + 1))
        assert not engine_alive(archive, run_id)  # the engine process exited and was reaped
    finally:
        if run_id is not None and server.alive():
            httpx.post(f"{server.url}/api/runs/{run_id}/cancel", headers=server.headers, timeout=10)
        server.stop()
