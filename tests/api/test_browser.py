"""The web UI in headless Chromium (Selenium): log in through the link,
open the run page, see the tree, click a node, read its diff, export the
agent, read a trajectory. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from archive import Archive, RunStatus
from archive.export import MANIFEST_NAME
from tests.api.conftest import screenshot, wait_for
from tests.api.populate import populate_run


def test_browse_a_run_click_a_node_read_its_diff_and_export(serve_app, archive: Archive, browser, artifacts: Path
                                                            ) -> None:
    finished = populate_run(archive, name="browser-finished")
    live = populate_run(archive, status=RunStatus.RUNNING, name="browser-live")
    server = serve_app(sse_poll_seconds=0.2)
    wait = WebDriverWait(browser, 20)

    # Without the cookie the pages say how to log in.
    browser.get(f"{server.url}/")
    assert "login link" in browser.find_element(By.TAG_NAME, "body").text
    code = server.app.state.auth.issue_login_code()
    browser.get(f"{server.url}/login?code={code}")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.runs")))
    assert "browser-finished" in browser.page_source and "browser-live" in browser.page_source
    assert all(c["httpOnly"] for c in browser.get_cookies())
    screenshot(browser, artifacts, "01-runs")

    # The run page: the tree is drawn, one circle per node.
    browser.get(f"{server.url}/runs/{finished['run']}")
    wait.until(lambda d: "stopped" in d.find_element(By.ID, "stream-state").text)  # the stream ended: finished run
    nodes = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tree svg a.node"))
    assert len(nodes) == archive.repo.get_run(finished["run"]).nodes_count == 5
    best = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{finished["best"]}"]')
    assert "best" in best.get_attribute("class")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#charts svg.chart")) == 2
    screenshot(browser, artifacts, "02-run-tree")

    # Click a node: the detail panel.
    best.click()
    panel = wait.until(EC.visibility_of_element_located((By.ID, "node-panel")))
    wait.until(lambda d: d.find_element(By.ID, "panel-title").text == f"Node {finished['best']}")
    assert "3/3" in panel.text and "run the tests before it finishes" in panel.text
    screenshot(browser, artifacts, "03-node-panel")

    # Open the node: read its diff.
    browser.find_element(By.ID, "panel-open").click()
    diff = wait.until(EC.presence_of_element_located((By.ID, "diff")))
    assert "agent/prompts.py" in diff.text and "Run the tests before you finish." in diff.text
    added = browser.find_elements(By.CSS_SELECTOR, "#diff .d-add")
    assert any("SYSTEM +=" in line.text for line in added)
    assert "Tell the model to run the tests before it finishes." in browser.page_source
    screenshot(browser, artifacts, "04-node-diff")

    # Export: the browser downloads the tar.gz with the lineage manifest.
    browser.find_element(By.ID, "export-node").click()
    name = f"clade-run{finished['run']}-node{finished['best']}.tar.gz"
    path = wait_for(lambda: next((p for p in browser.downloads.glob(name)), None), 30, what=f"download of {name}")
    wait_for(lambda: not list(browser.downloads.glob("*.crdownload")), 30, what="download to finish")
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile(MANIFEST_NAME))
    assert manifest["node"]["id"] == finished["best"] and manifest["run"]["id"] == finished["run"]

    # An evaluation's trajectory.
    browser.find_element(By.CSS_SELECTOR, "table.grid tbody tr td a").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ol.trajectory li.entry-tool")))
    assert "tool bash" in browser.page_source
    screenshot(browser, artifacts, "05-evaluation-trajectory")

    # An invalid node says why.
    browser.get(f"{server.url}/nodes/{finished['invalid']}")
    reason = wait.until(EC.presence_of_element_located((By.ID, "failure-reason")))
    assert "tests" in reason.text and "test_system_prompt" in reason.text

    # A live run: the node being built and the node being evaluated are marked,
    # and an event from the engine marks a node at once.
    browser.get(f"{server.url}/runs/{live['run']}")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#tree a.node.expanding[data-id="{live["building"]}"]')))
    evaluating = browser.find_elements(By.CSS_SELECTOR, "#tree a.node.evaluating")
    assert [e.get_attribute("data-id") for e in evaluating] == [str(live["children"][2])]
    wait.until(lambda d: d.find_element(By.ID, "stream-state").text == "live")
    target = live["children"][1]
    evaluation = archive.repo.start_evaluation(target, "cachekit__memoize-kwargs")
    archive.repo.append_event(live["run"], "evaluation_started",
                              {"evaluation_id": evaluation.id, "node_id": target, "task_id": "cachekit__memoize-kwargs"})
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#tree a.node.evaluating[data-id="{target}"]')))
    wait.until(lambda d: "evaluation_started" in d.find_element(By.ID, "event-log").text)
    time.sleep(2.0)  # let the debounced redraw land before the picture
    assert browser.find_elements(By.CSS_SELECTOR, f'#tree a.node.evaluating[data-id="{target}"]')
    screenshot(browser, artifacts, "06-run-live-marks")
    # A node with no code yet has nothing to export: its panel shows no Export button.
    browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{live["building"]}"]').click()
    wait.until(lambda d: d.find_element(By.ID, "panel-title").text == f"Node {live['building']}")
    assert not browser.find_element(By.ID, "panel-export").is_displayed()


def test_start_a_run_from_the_runs_page_shows_field_errors(serve_app, archive: Archive, browser,
                                                           artifacts: Path) -> None:
    server = serve_app()
    browser.get(f"{server.url}/login?token={server.token}")
    area = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "config")))
    area.clear()
    area.send_keys(json.dumps({"name": "from-the-page", "budget": {"task_evaluations": 0}, "wokers": 2}))
    browser.find_element(By.CSS_SELECTOR, "#start-run button[type=submit]").click()
    errors = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "start-errors") if "wokers" in d.find_element(By.ID, "start-errors").text
        else None)
    assert "budget.task_evaluations" in errors.text
    screenshot(browser, artifacts, "07-start-run-errors")
    area.clear()
    area.send_keys(json.dumps({"name": "from-the-page", "budget": {"task_evaluations": 3}}))
    browser.find_element(By.CSS_SELECTOR, "#start-run button[type=submit]").click()
    WebDriverWait(browser, 20).until(EC.url_contains("/runs/"))
    run_id = int(browser.current_url.rsplit("/", 1)[1])
    assert archive.repo.get_run(run_id).name == "from-the-page" and server.launched == [run_id]
