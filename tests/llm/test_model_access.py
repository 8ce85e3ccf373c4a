"""The platform's one way to hand out model access (evolve.model_access): a
grant buys one role's model for one unit of work, every call it makes lands
on that unit's archive row, and nothing answers once it is revoked."""

from __future__ import annotations

from archive import Archive
from evolve.model_access import GatewayIssuer
from tests.llm.conftest import GatewayFactory, ask, caller, scripted_backend
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer


def test_a_grant_buys_its_roles_model_for_its_unit_and_ends_with_it(archive: Archive, seed_agent,
                                                                     gateway_factory: GatewayFactory) -> None:
    run, root = archive.create_run("grants", {}, seed_agent)
    evaluation = archive.repo.start_evaluation(root.id, "some-task")
    with ScriptedServer(Script(default=Reply.text("ok"))) as server:
        gateway = gateway_factory(scripted_backend(server, name="solver"), scripted_backend(server, name="strong"),
                                  repo=archive.repo)
        issuer = GatewayIssuer(gateway, run.id)
        access = issuer.grant("solve", "solver", node_id=root.id, evaluation_id=evaluation.id)
        assert access.socket_path == str(gateway.config.socket_path) and access.model == "solver"
        with caller(gateway, access.token) as client:
            assert ask(client, model="solver").status_code == 200
            assert ask(client, model="strong").status_code == 403  # the diagnosis' stronger model: not this role's
            assert [m["id"] for m in client.get("/models").json()["data"]] == ["solver"]
            issuer.revoke(access)  # the unit is over; its calls are in the archive when this returns
            assert ask(client, model="solver").status_code == 401
    calls = archive.repo.llm_calls(run_id=run.id)
    assert len(calls) == 1 and calls[0].evaluation_id == evaluation.id and calls[0].node_id == root.id
    assert gateway.refused_calls["model_not_allowed"] == 1 and gateway.refused_calls["token_revoked"] == 1
    assert len(server.chat_requests) == 1
