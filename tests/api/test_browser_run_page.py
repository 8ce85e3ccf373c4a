"""Small run-page fixes in headless Chromium: events numbered once with
their node and evaluation ids as links (drawn by the server and added live),
long reasons wrapping inside their cell, the runs form taking YAML."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from archive import Archive, Outcome, RunStatus
from tests.api.conftest import screenshot
from tests.api.populate import populate_run


def test_events_are_numbered_once_and_link_their_ids(serve_app, archive: Archive, browser, artifacts: Path) -> None:
    ids = populate_run(archive, status=RunStatus.RUNNING)
    server = serve_app(sse_poll_seconds=0.2)
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server.url}/login?token={server.token}&next=/runs/{ids['run']}")
    log = wait.until(EC.presence_of_element_located((By.ID, "event-log")))
    assert log.value_of_css_property("list-style-type") == "none"  # the seq span is the only number
    first = log.find_elements(By.TAG_NAME, "li")[-1]
    assert first.text.split()[0] == first.get_attribute("data-seq")
    links = {a.get_attribute("href").split(server.url, 1)[1] for a in log.find_elements(By.CSS_SELECTOR, ".payload a")}
    assert f"/nodes/{ids['best']}" in links and f"/evaluations/{ids['evaluations'][0]}" in links
    wait.until(lambda d: d.find_element(By.ID, "stream-state").text == "live")
    evaluation = archive.repo.start_evaluation(ids["children"][1], "cachekit__memoize-kwargs")
    archive.repo.append_event(ids["run"], "evaluation_started", {"evaluation_id": evaluation.id,
                                                                 "node_id": ids["children"][1], "task_id": "t"})
    live = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#event-log .payload a[href="/evaluations/{evaluation.id}"]'))
    assert live[0].text == str(evaluation.id)
    screenshot(browser, artifacts, "24-events-with-links")


def test_a_long_reason_wraps_in_its_cell(serve_app, archive: Archive, browser, artifacts: Path) -> None:
    ids = populate_run(archive)
    node = ids["children"][1]
    evaluation = archive.repo.start_evaluation(node, "cachekit__memoize-kwargs")
    archive.repo.finish_evaluation(evaluation.id, Outcome.ERROR, reason="E" * 3000 + " then words " * 200)
    server = serve_app()
    browser.get(f"{server.url}/login?token={server.token}&next=/nodes/{node}")
    cell = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "td.reason")))
    cells = browser.find_elements(By.CSS_SELECTOR, "td.reason")
    widest = max(c.rect["width"] for c in cells)
    assert widest <= 430  # max-width 420 + padding: the unbroken run of E's wraps
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= browser.execute_script("return window.innerWidth"), page_width
    assert cell.is_displayed()
    screenshot(browser, artifacts, "25-long-reason-wraps")


def test_the_runs_form_takes_yaml(serve_app, archive: Archive, browser) -> None:
    server = serve_app()
    browser.get(f"{server.url}/login?token={server.token}")
    area = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "config")))
    submit = browser.find_element(By.CSS_SELECTOR, "#start-run button[type=submit]")
    area.clear()
    area.send_keys("name: [unclosed\n")
    submit.click()
    errors = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "start-errors") if "neither JSON nor YAML" in d.find_element(
            By.ID, "start-errors").text else None)
    assert "line" in errors.text
    area.clear()
    area.send_keys("name: from-yaml\nbudget:\n  task_evaluations: 0\n")
    submit.click()
    WebDriverWait(browser, 20).until(lambda d: "budget.task_evaluations" in d.find_element(By.ID, "start-errors").text)
    area.clear()
    area.send_keys("name: from-yaml\nbudget:\n  task_evaluations: 3\n")
    submit.click()
    WebDriverWait(browser, 20).until(EC.url_contains("/runs/"))
    run_id = int(browser.current_url.rsplit("/", 1)[1])
    run = archive.repo.get_run(run_id)
    assert run.name == "from-yaml" and run.config["budget"]["task_evaluations"] == 3 and server.launched == [run_id]
