"""The exported agent's README.md: how to run it, with the agent contract's
own command line (evaluator/contract.py), inside the tarball the API serves."""

from __future__ import annotations

import io
import tarfile

from archive import Archive
from archive.export import README_NAME, RUN_COMMAND
from evaluator.contract import BASE_URL_ENV, MODEL_ENV, TOKEN_ENV, agent_argv
from tests.api.populate import populate_run


def test_the_export_says_how_to_run_the_agent(serve_app, archive: Archive) -> None:
    assert RUN_COMMAND == " ".join(agent_argv("PROBLEM.md", "REPO", "OUT"))
    ids = populate_run(archive)
    server = serve_app()
    with server.client() as client:
        response = client.get(f"/api/runs/{ids['run']}/best/export")
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        names = tar.getnames()
        readme = tar.extractfile(README_NAME).read().decode()
    assert "agent/__main__.py" in names and README_NAME in names
    assert RUN_COMMAND in readme and f"node {ids['best']}" in readme and "3/3 tasks resolved" in readme
    assert all(f"export {name}=" in readme for name in (BASE_URL_ENV, MODEL_ENV, TOKEN_ENV))
    assert "standard library only" in readme  # a run grown from Clade's seed


def test_an_agent_grown_from_mini_swe_agent_says_it_needs_its_packages() -> None:
    from archive.export import export_readme

    manifest = {"node": {"id": 7, "own_resolved": 1, "own_total": 2}, "ancestors": [{}],
                "run": {"id": 3, "name": "msa", "models": ["hosted_vllm/m"], "config": {"agent": {"seed": "mini-swe-agent"}}}}
    readme = export_readme(manifest)
    assert "standard library only" not in readme
    assert "mini-swe-agent's Python packages" in readme and "agents_image.lock" in readme
