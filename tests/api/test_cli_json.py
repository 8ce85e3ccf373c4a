"""`clade ... --json` prints what the API answers for the same object: the
run list, a run's status (budget, best node, leader), its tree and a node
(a real `clade` process and real HTTP on one archive)."""

from __future__ import annotations

import json

from archive import Archive
from tests.api.populate import populate_run
from tests.cli.test_cli import clade

VOLATILE = {"elapsed_seconds", "engine_alive", "exported_at"}


def _stable(value):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_cli_json_is_the_api_body(serve_app, archive: Archive) -> None:
    ids = populate_run(archive)
    server = serve_app()
    with server.client() as client:
        pairs = [
            (("run", "list", "--json"), "/api/runs"),
            (("run", "status", str(ids["run"]), "--json"), f"/api/runs/{ids['run']}"),
            (("run", "tree", str(ids["run"]), "--json"), f"/api/runs/{ids['run']}/tree"),
            (("node", "show", str(ids["best"]), "--json"), f"/api/nodes/{ids['best']}"),
        ]
        for args, path in pairs:
            result = clade(*args)
            assert result.returncode == 0, result.stderr
            printed, answered = json.loads(result.stdout), client.get(path).json()
            printed.pop("driver", None)  # the CLI also says which process drives the run
            assert _stable(printed) == _stable(answered), args
    status = json.loads(clade("run", "status", str(ids["run"]), "--json").stdout)
    assert status["budget"]["task_evaluations"] == 12 and status["best_node"]["score"] == 1.0
    assert "driver" in status
