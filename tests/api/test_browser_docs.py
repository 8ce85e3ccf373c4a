"""/docs in headless Chromium: Swagger UI, from the server's own copy, draws
every operation of the OpenAPI document under the pages' strict CSP, and
"Try it out" answers with the login cookie alone."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from archive import Archive
from tests.api.conftest import screenshot
from tests.api.populate import populate_run


def test_the_interactive_api_docs_work_offline_under_the_csp(serve_app, archive: Archive, browser,
                                                            artifacts: Path) -> None:
    populate_run(archive)
    server = serve_app()
    wait = WebDriverWait(browser, 30)
    browser.get(f"{server.url}/login?token={server.token}&next=/docs")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#swagger-ui .opblock")))
    with server.client() as client:
        document = client.get("/api/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    drawn = browser.find_elements(By.CSS_SELECTOR, "#swagger-ui .opblock")
    assert len(drawn) == operations > 10
    assert browser.find_element(By.CSS_SELECTOR, "#swagger-ui .info .title").text.startswith("Clade")

    runs = browser.find_element(By.CSS_SELECTOR, "#operations-runs-list_runs_api_runs_get")
    runs.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#operations-runs-list_runs_api_runs_get .try-out__btn"))).click()
    runs.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait.until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#operations-runs-list_runs_api_runs_get .live-responses-table tbody .response-col_status")))
    assert status.text.strip().startswith("200"), status.text
    body = runs.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .microlight").text
    assert '"total": 1' in body, body
    screenshot(browser, artifacts, "26-api-docs")

    console = [entry["message"] for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m], console
