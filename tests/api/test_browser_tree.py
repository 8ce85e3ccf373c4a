"""The tree's view in headless Chromium: zoom (buttons and Ctrl + wheel), pan,
find a node by id, the best agent's lineage, a 1 000-node tree that opens
readable with its root in view, Fit that never blows a small tree up.
Screenshots of the 1 000-node tree go to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from archive import Archive
from tests.api.conftest import screenshot, wait_for
from tests.api.populate import populate_big_run, populate_run


def _scale(browser) -> float:  # type: ignore[no-untyped-def]
    return float(browser.find_element(By.ID, "tree").get_attribute("data-scale"))


def _view_box(browser) -> list[float]:  # type: ignore[no-untyped-def]
    box = browser.execute_script("return document.querySelector('#tree svg').getAttribute('viewBox')")
    return [float(v) for v in box.split()]


def _lineage(archive: Archive, node_id: int) -> list[int]:
    return [n.id for n in archive.repo.lineage(node_id)]


def test_a_thousand_node_tree_zoom_pan_find_and_lineage(serve_app, archive: Archive, browser, artifacts: Path
                                                        ) -> None:
    big = populate_big_run(archive, nodes=1000)
    server = serve_app()
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server.url}/login?token={server.token}&next=/runs/{big['run']}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tree svg a.node")) == 1000)
    box = browser.find_element(By.ID, "tree")

    # Opens readable (not fitted to a dust cloud), the root in the window.
    start = _scale(browser)
    assert start >= 0.5, start
    root = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{big["root"]}"] circle.hit')
    r, b = root.rect, box.rect
    assert b["x"] <= r["x"] + r["width"] / 2 <= b["x"] + b["width"]
    assert b["y"] <= r["y"] + r["height"] / 2 <= b["y"] + b["height"]
    screenshot(browser, artifacts, "20-tree-1000-initial")

    # The best agent's lineage: every node on the path root → best has the class, nothing else.
    path = _lineage(archive, big["best"])
    marked = {int(a.get_attribute("data-id")) for a in browser.find_elements(By.CSS_SELECTOR, "#tree a.node.lineage")}
    assert marked == set(path) and len(path) >= 4
    assert browser.find_elements(By.CSS_SELECTOR, "#tree path.edges.lineage")
    colour = browser.execute_script(
        "return getComputedStyle(document.querySelector('#tree path.edges.lineage')).stroke")
    plain = browser.execute_script("return getComputedStyle(document.querySelector('#tree path.edges')).stroke")
    assert colour != plain
    # Lineage labels show at any zoom; the other labels only when zoomed in.
    label = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{path[-1]}"] text')
    assert label.value_of_css_property("display") != "none"

    # Fit: the whole tree in the window, scale capped.
    browser.find_element(By.ID, "tree-fit").click()
    fitted = _scale(browser)
    assert fitted < start
    vb = _view_box(browser)
    svg = browser.find_element(By.CSS_SELECTOR, "#tree svg")
    assert vb[2] >= float(svg.get_attribute("width")) - 1 or vb[3] >= float(svg.get_attribute("height")) - 1
    others = [a for a in browser.find_elements(By.CSS_SELECTOR, "#tree a.node:not(.lineage) text.label")[:5]]
    assert others and all(t.value_of_css_property("display") == "none" for t in others)
    screenshot(browser, artifacts, "21-tree-1000-fit")

    # Zoom buttons and the wheel.
    browser.find_element(By.ID, "tree-zoom-in").click()
    assert abs(_scale(browser) - fitted * 1.25) < 1e-3
    browser.find_element(By.ID, "tree-zoom-out").click()
    assert abs(_scale(browser) - fitted) < 1e-3
    before = _scale(browser)
    wheel = """
        var box = document.getElementById('tree'), r = box.getBoundingClientRect();
        var event = new WheelEvent('wheel', {deltaY: -400, clientX: r.left + 100, clientY: r.top + 100,
                                             ctrlKey: arguments[0], bubbles: true, cancelable: true});
        box.dispatchEvent(event);
        return event.defaultPrevented;"""
    assert browser.execute_script(wheel, False) is False  # a plain wheel scrolls the page, not the tree
    assert _scale(browser) == before
    assert browser.execute_script(wheel, True) is True
    assert _scale(browser) > before * 1.5

    # Drag pans the view.
    vb = _view_box(browser)
    ActionChains(browser).move_to_element_with_offset(box, 10, 10).click_and_hold().move_by_offset(120, 60) \
        .move_by_offset(40, 20).release().perform()
    moved = _view_box(browser)
    assert moved[0] < vb[0] - 50 and moved[1] < vb[1] - 20 and moved[2] == vb[2]

    # Find a node by id: centred, zoomed in, selected, its panel open, every label shown.
    target = big["ids"][777]
    search = browser.find_element(By.ID, "tree-search")
    search.send_keys(str(target))
    browser.find_element(By.CSS_SELECTOR, "#tree-find button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.ID, "panel-title").text == f"Node {target}")
    node = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{target}"]')
    assert "selected" in node.get_attribute("class")
    hit = node.find_element(By.CSS_SELECTOR, "circle.hit").rect
    b = box.rect
    assert abs(hit["x"] + hit["width"] / 2 - (b["x"] + b["width"] / 2)) < 3
    assert abs(hit["y"] + hit["height"] / 2 - (b["y"] + b["height"] / 2)) < 3
    assert _scale(browser) >= 1.5
    assert "labels" in browser.find_element(By.CSS_SELECTOR, "#tree svg").get_attribute("class")
    assert node.find_element(By.CSS_SELECTOR, "text").is_displayed()
    screenshot(browser, artifacts, "22-tree-1000-found-node")

    # An unknown id says so.
    search.clear()
    search.send_keys("99999999")
    browser.find_element(By.CSS_SELECTOR, "#tree-find button[type=submit]").click()
    wait_for(lambda: "no node 99999999" in browser.find_element(By.ID, "tree-find-message").text, 10,
             what="the not-found message")


def test_fit_does_not_blow_a_small_tree_up(serve_app, archive: Archive, browser) -> None:
    ids = populate_run(archive)
    server = serve_app()
    browser.get(f"{server.url}/login?token={server.token}&next=/runs/{ids['run']}")
    nodes = WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tree svg a.node"))
    assert len(nodes) == 5
    browser.find_element(By.ID, "tree-fit").click()
    assert _scale(browser) <= 1.0
    circle = browser.find_element(By.CSS_SELECTOR, f'#tree a.node[data-id="{ids["root"]}"] circle:not(.hit)')
    assert circle.rect["width"] < 40  # drawn at its natural size, not a giant disc
    # the lineage of the best node: root → best
    marked = {int(a.get_attribute("data-id")) for a in browser.find_elements(By.CSS_SELECTOR, "#tree a.node.lineage")}
    assert marked == {ids["root"], ids["best"]}
    WebDriverWait(browser, 5).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#tree text.label")))
