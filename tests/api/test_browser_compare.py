"""The compare view in headless Chromium: from a node's page to the diff
against the best agent and the task × node matrix, then to an evaluation."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from archive import Archive
from tests.api.conftest import screenshot
from tests.api.populate import TASKS, populate_run


def test_compare_a_node_with_the_best_agent(serve_app, archive: Archive, browser, artifacts: Path) -> None:
    ids = populate_run(archive)
    child_a, child_b, _ = ids["children"]
    server = serve_app()
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server.url}/login?token={server.token}&next=/nodes/{child_b}")
    wait.until(EC.element_to_be_clickable((By.ID, "compare-best"))).click()
    matrix = wait.until(EC.presence_of_element_located((By.ID, "matrix")))
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Compare node {child_b} with node {child_a}"
    row = matrix.find_element(By.CSS_SELECTOR, f'tr[data-task="{TASKS[1]}"]')
    cells = row.find_elements(By.TAG_NAME, "td")
    assert cells[1].text.strip() == "unresolved" and cells[2].text.strip() == "resolved"
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .d-add")]
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .d-del")]
    assert any("Run the tests before you finish." in line for line in added)
    assert any("Read the failing test first." in line for line in removed)
    screenshot(browser, artifacts, "23-compare")
    cells[2].find_element(By.TAG_NAME, "a").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ol.trajectory")))
    assert f"node {child_a}" in browser.find_element(By.CSS_SELECTOR, ".crumbs").text
