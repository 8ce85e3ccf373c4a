"""One error body for every error status (api/errors.py), the OpenAPI
document saying so, pagination on the list routes, no server path in any
response, and a node without code: 409 for its export (real HTTP, SQLite)."""

from __future__ import annotations

import json

import httpx

from api.auth import COOKIE_NAME
from api.schemas import ErrorOut
from archive import Archive, RunStatus
from tests.api.populate import populate_run


def assert_error(response: httpx.Response, status: int, kind: str, needle: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = ErrorOut.model_validate(response.json())  # the one documented shape
    assert body.detail and all(item.msg for item in body.detail)
    assert body.detail[0].type == kind, body
    assert needle in body.detail[0].msg, body
    return response.json()


def test_every_error_status_has_the_one_shape(serve_app, archive: Archive) -> None:
    ids = populate_run(archive, status=RunStatus.RUNNING)
    server = serve_app()
    run = ids["run"]
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert_error(anonymous.get(f"/api/runs/{run}"), 401, "unauthorized", "Authorization: Bearer")
        assert_error(anonymous.post("/api/runs", json={}), 401, "unauthorized")
    with server.client() as client:
        assert_error(client.get("/api/runs/999999"), 404, "not_found", "no run with id 999999")
        assert_error(client.get("/api/nodes/999999"), 404, "not_found")
        assert_error(client.get(f"/api/nodes/{ids['best']}/log", params={"name": "nope.log"}), 404, "not_found")
        assert_error(client.get("/api/no-such-route"), 404, "not_found")
        # a node without code: it exists, its state refuses the export
        assert_error(client.get(f"/api/nodes/{ids['building']}/export"), 409, "conflict", "no code yet")
        assert_error(client.get(f"/api/runs/{run}/best/export"), 409, "conflict", "no best node yet")
        client.post(f"/api/runs/{run}/cancel")
        assert_error(client.post(f"/api/runs/{run}/pause"), 409, "conflict", "cancelled")
        body = assert_error(client.get(f"/api/runs/{run}/nodes", params={"limit": 0}), 422, "greater_than_equal")
        assert body["detail"][0]["field"] == "limit" and body["detail"][0]["loc"] == ["query", "limit"]
        body = assert_error(client.post("/api/runs", json={"budget": {"task_evaluations": 0}}), 422,
                            "greater_than")
        assert body["detail"][0]["field"] == "budget.task_evaluations"
        assert_error(client.post("/api/runs", content=b"{nope", headers={"Content-Type": "application/json"}),
                     422, "json_invalid")
        assert_error(client.post("/api/runs", content=b"x" * (2 * 1024**2)), 413, "too_large", "1 MiB")
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        browser.get(f"/login?token={server.token}")
        cross = browser.post(f"/api/runs/{run}/resume", headers={"Origin": "http://evil.example"})
        assert_error(cross, 403, "forbidden", "cross-site")
        assert browser.cookies.get(COOKIE_NAME)


def test_the_openapi_document_names_the_error_shape_everywhere(serve_app, archive: Archive) -> None:
    server = serve_app()
    with server.client() as client:
        spec = client.get("/api/openapi.json").json()
        assert 'id="error-shape"' in client.get("/docs").text  # the people's page says it too
    assert "HTTPValidationError" not in json.dumps(spec)
    errors = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    errors += 1
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
    assert errors > 30
    assert spec["components"]["schemas"]["ErrorOut"]["properties"]["detail"]["type"] == "array"
    # every GET answering a list is paged
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        ref = get["responses"]["200"].get("content", {}).get("application/json", {}).get("schema", {})
        assert ref.get("type") != "array", path  # no bare lists
        names = {p["name"] for p in get.get("parameters", [])}
        if ref.get("$ref", "").endswith("Page"):
            assert {"offset", "limit"} <= names, path


def test_no_server_path_in_any_response(serve_app, archive: Archive) -> None:
    ids = populate_run(archive)
    evaluation = archive.repo.get_evaluation(ids["evaluations"][-1])
    archive.repo.finish_evaluation(evaluation.id, evaluation.outcome, log_path=evaluation.log_path,
                                   details={**(evaluation.details or {}), "agent": "/tmp/clade-eval-x1y2/code"})
    server = serve_app()
    home = str(archive.home.root)
    with server.client() as client:
        bodies = [client.get(path).text for path in (
            "/api/runs", f"/api/runs/{ids['run']}", f"/api/runs/{ids['run']}/tree", f"/api/runs/{ids['run']}/nodes",
            f"/api/runs/{ids['run']}/evaluations", f"/api/runs/{ids['run']}/event-log",
            f"/api/runs/{ids['run']}/compare?a={ids['root']}&b={ids['best']}",
            f"/api/nodes/{evaluation.node_id}", f"/api/evaluations/{evaluation.id}")]
        shown = client.get(f"/api/evaluations/{evaluation.id}").json()
    assert shown["details"]["agent"] == f"node:{evaluation.node_id}"
    for body in bodies:
        assert home not in body and "/tmp/" not in body, body[:300]
