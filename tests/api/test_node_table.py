"""The node table: GET /api/runs/{id}/nodes sorted by a column, and the
/runs/{id}/nodes page built on it (real HTTP, real SQLite)."""

from __future__ import annotations

import re

import httpx

from archive import Archive
from tests.api.populate import populate_big_run, populate_run


def _all(client: httpx.Client, run_id: int, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    rows, offset = [], 0
    while True:
        page = client.get(f"/api/runs/{run_id}/nodes", params={**params, "offset": offset, "limit": 97})
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["nodes"]
        offset += 97
        if offset >= body["total"]:
            return rows


def test_nodes_sorted_by_each_column_over_pages(serve_app, archive: Archive) -> None:
    big = populate_big_run(archive, nodes=400, seed=3)
    server = serve_app()
    with server.client() as client:
        tree_order = _all(client, big["run"])
        assert [n["id"] for n in tree_order] == client.get(f"/api/runs/{big['run']}/tree").json()["id"]
        by_id = {n["id"]: n for n in tree_order}
        assert sum(n["tokens"] for n in tree_order) > 0  # model use per node is there
        for sort, field in (("score", "score"), ("evaluations", "own_total"), ("tokens", "tokens"),
                            ("cost", "cost_usd"), ("depth", "depth"), ("cmp", "cmp")):
            for order in ("asc", "desc"):
                rows = _all(client, big["run"], sort=sort, order=order)
                assert sorted(n["id"] for n in rows) == sorted(by_id)  # every node once over the pages
                values = [n[field] for n in rows]
                known = [v for v in values if v is not None]
                assert known == sorted(known, reverse=order == "desc"), (sort, order)
                assert all(v is None for v in values[len(known):])  # no value: last
        status = [n["status"] for n in _all(client, big["run"], sort="status")]
        assert status.index("invalid") > max(i for i, s in enumerate(status) if s == "valid")
        assert client.get(f"/api/runs/{big['run']}/nodes", params={"sort": "nonsense"}).status_code == 422
        assert client.get(f"/api/runs/{big['run']}/nodes", params={"order": "up"}).status_code == 422


def test_the_node_table_page_sorts_and_links(serve_app, archive: Archive) -> None:
    ids = populate_run(archive)
    server = serve_app()
    with server.client() as client:
        page = client.get(f"/runs/{ids['run']}/nodes", params={"sort": "score", "order": "desc"})
        assert page.status_code == 200
        rows = re.findall(r'<tr data-id="(\d+)"', page.text)
        assert int(rows[0]) == ids["best"] and len(rows) == 5  # 3/3 first
        assert f'href="/nodes/{ids["best"]}"' in page.text
        assert f'href="?sort=score&amp;order=asc"' in page.text  # a second click reverses
        assert f'/runs/{ids["run"]}/compare?a={ids["root"]}&amp;b={ids["best"]}' in page.text
        ascending = re.findall(r'<tr data-id="(\d+)"', client.get(f"/runs/{ids['run']}/nodes?sort=evaluations&order=asc").text)
        evaluations = {n["id"]: n["own_total"] for n in client.get(f"/api/runs/{ids['run']}/nodes").json()["nodes"]}
        assert [evaluations[int(i)] for i in ascending] == sorted(evaluations.values())
        assert f"/runs/{ids['run']}/nodes" in client.get(f"/runs/{ids['run']}").text  # reachable from the run page
