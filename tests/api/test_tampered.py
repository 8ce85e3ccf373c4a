"""A `tampered` evaluation over real HTTP (uvicorn on a loopback port), in
the web pages, in headless Chromium and in the `clade` command: counted as a
failure and apart, served with its evidence, drawn in its own colour."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.schemas import EvaluationOut, NodeDetail, RunDetail, TreeOut
from api.web.svg import TAMPERED_COLOUR
from archive import Archive, NodeStatus, Outcome
from tests.api.conftest import screenshot
from tests.api.populate import populate_run, prompt_patch

EVIDENCE = {"rule": "canary", "detail": "canary test_must_fail passed <script>alert(1)</script>"}
SET_ASIDE = ["tests/test_lru.py", "pytest.ini"]
CLADE = str(Path(sys.executable).with_name("clade"))


@pytest.fixture
def tampered(archive: Archive) -> dict:
    """populate_run's run, plus a valid child of the root that forged three of its four grades."""
    ids = populate_run(archive)
    repo = archive.repo
    cheat = repo.add_node(ids["run"], ids["root"], status=NodeStatus.VALID)
    archive.attach_patch(cheat.id, prompt_patch(archive, ids["root"], "Edit the tests until they pass."))
    forged = []
    for i, outcome in enumerate([Outcome.TAMPERED, Outcome.RESOLVED, Outcome.TAMPERED, Outcome.TAMPERED]):
        evaluation = repo.start_evaluation(cheat.id, f"cheat-task-{i}")
        folder = archive.home.logs_dir(ids["run"]) / f"evaluation-{evaluation.id}"
        folder.mkdir(parents=True)
        (folder / "test_output.txt").write_text("1 passed\n")
        is_forged = outcome == Outcome.TAMPERED
        repo.finish_evaluation(evaluation.id, outcome, duration_s=2.0, log_path=str(folder),
                               reason="a canary that must fail passed" if is_forged else "all tests pass",
                               details={"tampering": EVIDENCE if is_forged else None,
                                        "set_aside": SET_ASIDE if is_forged else []})
        if is_forged:
            forged.append(evaluation.id)
    return {**ids, "cheat": cheat.id, "forged": forged}


def test_the_api_counts_tampered_apart_and_serves_its_evidence(serve_app, archive: Archive, tampered) -> None:
    server = serve_app()
    run_id, cheat = tampered["run"], tampered["cheat"]
    with server.client() as client:
        evaluation = client.get(f"/api/evaluations/{tampered['forged'][0]}").json()
        EvaluationOut.model_validate(evaluation)
        assert evaluation["outcome"] == "tampered" and evaluation["reason"] == "a canary that must fail passed"
        assert evaluation["details"]["tampering"] == EVIDENCE and evaluation["details"]["set_aside"] == SET_ASIDE

        node = client.get(f"/api/nodes/{cheat}").json()
        NodeDetail.model_validate(node)
        assert (node["own_resolved"], node["own_total"], node["own_tampered"], node["clade_tampered"]) == (1, 4, 3, 3)
        assert [e["outcome"] for e in node["evaluations"]] == ["tampered", "resolved", "tampered", "tampered"]
        root = client.get(f"/api/nodes/{tampered['root']}?diff=false").json()
        assert (root["own_tampered"], root["clade_tampered"]) == (0, 3)

        run = client.get(f"/api/runs/{run_id}").json()
        RunDetail.model_validate(run)
        assert run["evaluations_by_outcome"] == {"resolved": 6, "unresolved": 3, "error": 0, "timeout": 0,
                                                 "tampered": 3}
        # 1/4 is its score, not 4/4 nor 1/1: the leader stays the honest 3/3
        assert run["leader"]["id"] == tampered["best"]

        tree = client.get(f"/api/runs/{run_id}/tree").json()
        TreeOut.model_validate(tree)
        expected = archive.repo.tree(run_id)
        for i, node_id in enumerate(tree["id"]):
            assert (tree["own_tampered"][i], tree["clade_tampered"][i]) == \
                (expected[node_id].own_tampered, expected[node_id].clade_tampered)
        i = tree["id"].index(cheat)
        assert (tree["own_resolved"][i], tree["own_total"][i], tree["score"][i]) == (1, 4, 0.25)
        page = client.get(f"/api/runs/{run_id}/nodes").json()["nodes"]
        assert {n["id"]: n["own_tampered"] for n in page if n["own_tampered"]} == {cheat: 3}

        points = client.get(f"/api/runs/{run_id}/timeline").json()["points"]
        assert (points[-1]["evaluations"], points[-1]["resolved"], points[-1]["tampered"]) == (12, 6, 3)

        spec = client.get("/api/openapi.json").json()["components"]["schemas"]
        outcome = spec["EvaluationOut"]["properties"]["outcome"]["anyOf"][0]
        assert "tampered" in outcome["enum"]


def _css_rule(css: str, selector: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if selector in [s.strip() for s in selectors.split(",")]:
            return body
    raise AssertionError(f"no CSS rule for {selector}")


def test_pages_draw_tampered_in_its_own_colour_with_the_evidence(serve_app, archive: Archive, tampered) -> None:
    server = serve_app()
    cheat = tampered["cheat"]
    with server.client() as client:
        page = client.get(f"/runs/{tampered['run']}").text
        marked = re.findall(r'<a href="/nodes/(\d+)" class="([^"]*)"', page)
        assert {int(n) for n, classes in marked if "tampered" in classes.split()} == {cheat}
        ring = re.search(rf'href="/nodes/{cheat}"[^>]*><circle class="tamper-ring"[^>]*stroke="([^"]+)"', page)
        assert ring and ring.group(1) == TAMPERED_COLOUR
        assert "3 tampered (grade refused)" in page  # the node's tooltip
        assert '<i class="dot tampered"></i>' in page and 'id="run-tampered">3 tampered' in page
        assert "tampered" in client.get(f"/runs/{tampered['run']}/partials/charts").text

        node = client.get(f"/nodes/{cheat}").text
        assert node.count('<span class="outcome outcome-tampered">tampered</span>') == 3
        assert 'id="node-tampered"' in node and "caught by canary" in node

        evaluation = client.get(f"/evaluations/{tampered['forged'][0]}").text
        assert 'class="outcome outcome-tampered"' in evaluation and 'id="tampering"' in evaluation
        assert '<code id="tampering-rule">canary</code>' in evaluation
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evaluation and "<script>alert(1)" not in evaluation
        assert all(f"<code>{path}</code>" in evaluation for path in SET_ASIDE)
        honest = client.get(f"/evaluations/{tampered['evaluations'][0]}").text
        assert 'id="tampering"' not in honest and 'id="set-aside"' not in honest

        css = client.get("/static/app.css").text
    background = {name: re.search(r"background:\s*([^;]+);", _css_rule(css, f".outcome-{name}")).group(1)
                  for name in ("tampered", "unresolved", "error", "timeout", "resolved", "running")}
    assert list(background.values()).count(background["tampered"]) == 1, background
    assert TAMPERED_COLOUR in _css_rule(css, ".outcome-tampered")


def test_the_browser_renders_tampered_in_its_own_colour(serve_app, archive: Archive, tampered, browser,
                                                       artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    server = serve_app()
    browser.get(f"{server.url}/login?code={server.app.state.auth.issue_login_code()}&next=/nodes/{tampered['cheat']}")

    def background(selector: str) -> str:
        element = browser.find_element(By.CSS_SELECTOR, selector)
        return browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor", element)

    browser.get(f"{server.url}/nodes/{tampered['root']}")
    unresolved = background(".outcome-unresolved")
    browser.get(f"{server.url}/nodes/{tampered['cheat']}")
    assert background("td .outcome-tampered") not in (unresolved, background(".outcome-resolved"))
    screenshot(browser, artifacts, "tampered-node")
    browser.get(f"{server.url}/evaluations/{tampered['forged'][0]}")
    assert "alert(1)" in browser.find_element(By.ID, "tampering-detail").text  # shown as text, never run
    screenshot(browser, artifacts, "tampered-evaluation")
    browser.get(f"{server.url}/runs/{tampered['run']}")
    ring = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{tampered["cheat"]}"] circle.tamper-ring')
    stroke = browser.execute_script("return getComputedStyle(arguments[0]).stroke", ring)
    assert stroke == "rgb(130, 80, 223)"  # #8250df, whatever other marks the node has
    screenshot(browser, artifacts, "tampered-tree")


def _clade(*args: str) -> str:
    result = subprocess.run([CLADE, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_cli_shows_tampered_counts_and_evidence(archive: Archive, tampered) -> None:
    status = json.loads(_clade("run", "status", str(tampered["run"]), "--json"))
    assert status["evaluations_by_outcome"]["tampered"] == 3
    text = _clade("run", "status", str(tampered["run"]))
    assert "tampered 3" in text and "3 grade(s) refused" in text
    shown = json.loads(_clade("node", "show", str(tampered["cheat"]), "--json"))
    assert (shown["own_resolved"], shown["own_total"], shown["own_tampered"]) == (1, 4, 3)
    assert shown["evaluations"][0]["details"]["tampering"] == EVIDENCE
    text = _clade("node", "show", str(tampered["cheat"]))
    assert "3 tampered: grades refused" in text and "tampered" in text and "caught by canary" in text
    tree = _clade("run", "tree", str(tampered["run"]))
    assert f"node {tampered['cheat']} [valid] own 1/4" in tree and "TAMPERED 3" in tree
