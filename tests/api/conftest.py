"""Fixtures for the API tests: servers listening on real loopback ports
(uvicorn in a thread of the test process, or `clade serve` as a process),
and headless Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.server import free_port
from api.settings import ServerSettings
from archive import Archive, CladeHome

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, clade_home: CladeHome) -> str:
    """The API suites run on SQLite (the archive's own suite covers PostgreSQL)."""
    clade_home.root.mkdir(parents=True, exist_ok=True)
    return clade_home.database_url


@dataclass
class LiveServer:
    url: str
    token: str
    app: object
    launched: list[int] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs) -> httpx.Client:  # type: ignore[no-untyped-def]
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30, **kwargs)


@pytest.fixture
def serve_app(archive: Archive, clade_home: CladeHome) -> Iterator[Callable[..., LiveServer]]:
    """Start the app with uvicorn on a free loopback port, in a thread. Run
    engines are not started: the launcher records the run ids instead."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**settings) -> LiveServer:  # type: ignore[no-untyped-def]
        launched: list[int] = []
        port = free_port()
        app = create_app(ServerSettings(home=clade_home, port=port, **settings), archive=archive,
                         launcher=lambda run_id: launched.append(run_id))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return LiveServer(f"http://127.0.0.1:{port}", app.state.auth.token, app, launched)

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def open_browser(downloads: Path):  # type: ignore[no-untyped-def]
    """Headless Chromium (Debian's chromium + chromium-driver) saving downloads into `downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: CSP refusals, script errors
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not chromium_available():
        message = (f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
                   "apt-get install chromium chromium-driver")
        if os.environ.get("CI"):  # CI must run the browser test, not skip it quietly
            pytest.fail(message)
        pytest.skip(message)
    with open_browser(tmp_path / "downloads") as driver:
        driver.downloads = tmp_path / "downloads"  # type: ignore[attr-defined]
        yield driver


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def screenshot(driver, artifacts: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(predicate: Callable[[], object], timeout: float = 30, interval: float = 0.2, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)


__all__ = ["LiveServer", "screenshot", "wait_for", "shutil"]
