"""GET /api/runs/{id}/compare and /runs/{id}/compare: the diff between any
two nodes' code and the task × node matrix (real HTTP, real SQLite)."""

from __future__ import annotations

from archive import Archive, RunStatus
from tests.api.populate import TASKS, populate_run


def test_compare_two_siblings_diff_and_matrix(serve_app, archive: Archive) -> None:
    ids = populate_run(archive)
    child_a, child_b, grandchild = ids["children"]
    server = serve_app()
    with server.client() as client:
        body = client.get(f"/api/runs/{ids['run']}/compare", params={"a": child_b, "b": child_a}).json()
        assert (body["a"], body["b"]) == (child_b, child_a)
        diff = body["diff"]
        # siblings: neither is the other's parent, the diff goes from one's code to the other's
        assert "agent/prompts.py" in diff
        assert "-SYSTEM += \"\\nRead the failing test first.\"" in diff
        assert "+SYSTEM += \"\\nRun the tests before you finish.\"" in diff
        assert diff == archive.code_store(ids["run"]).diff(archive.repo.get_node(child_b).commit,
                                                          archive.repo.get_node(child_a).commit)
        assert [n["id"] for n in body["nodes"]] == [child_b, child_a]
        assert [n["own_total"] for n in body["nodes"]] == [2, 3]
        rows = {row["task_id"]: row["cells"] for row in body["tasks"]}
        assert sorted(rows) == sorted(TASKS)
        assert [c["outcome"] for c in rows[TASKS[1]][0]] == ["unresolved"]  # child_b failed it
        assert [c["outcome"] for c in rows[TASKS[1]][1]] == ["resolved"]  # child_a solved it
        assert rows[TASKS[2]][0] == []  # child_b never ran it
        evaluation = rows[TASKS[2]][1][0]["evaluation_id"]
        assert archive.repo.get_evaluation(evaluation).node_id == child_a
        # more columns for the matrix
        three = client.get(f"/api/runs/{ids['run']}/compare",
                           params={"a": ids["root"], "b": child_a, "more": [grandchild]}).json()
        assert [n["id"] for n in three["nodes"]] == [ids["root"], child_a, grandchild]
        assert all(len(row["cells"]) == 3 for row in three["tasks"])
        # the same node twice: no change
        same = client.get(f"/api/runs/{ids['run']}/compare", params={"a": child_a, "b": child_a}).json()
        assert same["diff"] == "" and len(same["nodes"]) == 1

        # the page: matrix links to evaluations, the diff is drawn
        page = client.get(f"/runs/{ids['run']}/compare", params={"a": child_b, "b": child_a})
        assert page.status_code == 200 and 'id="matrix"' in page.text
        assert f'href="/evaluations/{evaluation}"' in page.text
        assert 'class="d-add"' in page.text and "Run the tests before you finish." in page.text
        assert f"/runs/{ids['run']}/compare?a={child_a}" in client.get(f"/nodes/{child_a}").text or \
            f'action="/runs/{ids["run"]}/compare"' in client.get(f"/nodes/{child_a}").text
        assert 'id="compare-best"' in client.get(f"/nodes/{child_b}").text


def test_compare_refuses_nodes_of_another_run_and_says_why_there_is_no_diff(serve_app, archive: Archive) -> None:
    one = populate_run(archive, name="one")
    two = populate_run(archive, status=RunStatus.RUNNING, name="two")
    server = serve_app()
    with server.client() as client:
        other = client.get(f"/api/runs/{one['run']}/compare", params={"a": one["root"], "b": two["root"]})
        assert other.status_code == 404 and f"run {two['run']}" in str(other.json()["detail"])
        assert client.get("/api/runs/999/compare", params={"a": 1, "b": 2}).status_code == 404
        assert client.get(f"/api/runs/{one['run']}/compare", params={"a": one["root"]}).status_code == 422
        assert client.get(f"/api/runs/{one['run']}/compare",
                          params={"a": 1, "b": 2, "more": list(range(3, 12))}).status_code == 422
        building = client.get(f"/api/runs/{two['run']}/compare", params={"a": two["root"], "b": two["building"]})
        assert building.status_code == 200
        assert building.json()["diff"] is None and "no code yet" in building.json()["diff_note"]
        assert "no code yet" in client.get(f"/runs/{two['run']}/compare",
                                           params={"a": two["root"], "b": two["building"]}).text
