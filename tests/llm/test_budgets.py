"""Budgets hold exactly under 8 concurrent callers, per run and per evaluation."""

from __future__ import annotations

import threading

import httpx

from archive import Archive
from llm.config import Budget
from llm.gateway import Gateway
from tests.llm.conftest import GatewayFactory, ask, caller, scripted_backend
from tests.support.script import Reply, Script
from tests.support.scripted_server import ScriptedServer

CALLERS = 8
# Fixed usage (15 tokens a call), and a small delay so that calls overlap.
FIXED = Reply.text("ok", prompt_tokens=10, completion_tokens=5, delay_s=0.02)


def hammer(gateway: Gateway, token: str, calls_each: int, callers: int = CALLERS) -> list[httpx.Response]:
    """`callers` threads, started together, each making `calls_each` calls."""
    barrier = threading.Barrier(callers)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def one_caller() -> None:
        with caller(gateway, token) as client:
            barrier.wait()
            for _ in range(calls_each):
                response = ask(client, max_tokens=5)
                with lock:
                    responses.append(response)

    threads = [threading.Thread(target=one_caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def codes(responses: list[httpx.Response]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def test_run_call_budget_is_exact_under_8_concurrent_callers(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("budget", {})
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo, run_budget=Budget(calls=20))
        responses = hammer(gateway, gateway.issue_token(run_id=run.id, purpose="solve"), calls_each=5)
        gateway.flush()
        assert len(server.chat_requests) == 20  # refused calls never reach the model
    assert codes(responses) == {200: 20, 429: 20}
    refusal = next(r for r in responses if r.status_code == 429)
    assert refusal.json()["error"]["code"] == "budget_exceeded"
    assert f"call budget of run {run.id}" in refusal.json()["error"]["message"]
    assert refusal.headers["x-should-retry"] == "false"
    assert len(archive.repo.llm_calls(run_id=run.id)) == 20
    assert archive.repo.get_run(run.id).llm_calls_count == 20


def test_token_budget_never_overspends_and_matches_sequential_calls(gateway_factory: GatewayFactory) -> None:
    limit = Budget(tokens=300)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), run_budget=limit)
        sequential = hammer(gateway, gateway.issue_token(run_id=1), calls_each=40, callers=1)
        concurrent = hammer(gateway, gateway.issue_token(run_id=2), calls_each=5)
        spent_sequential, spent_concurrent = gateway.spent("run", 1), gateway.spent("run", 2)
    admitted = codes(sequential)[200]
    assert CALLERS < admitted < 40  # the limit, not the number of callers, decided
    assert codes(concurrent)[200] == admitted
    assert spent_concurrent == spent_sequential
    assert spent_concurrent.tokens == 15 * admitted <= 300
    refusal = next(r for r in concurrent if r.status_code == 429).json()["error"]["message"]
    assert "token budget of run 2 (300 tokens)" in refusal and "max_tokens" in refusal


def test_evaluation_budgets_are_separate_and_named(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("evals", {})
    node = archive.repo.add_node(run.id, None)
    first = archive.repo.start_evaluation(node.id, "task-a")
    second = archive.repo.start_evaluation(node.id, "task-b")
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(
            scripted_backend(server), repo=archive.repo, evaluation_budget=Budget(calls=3), run_budget=Budget(calls=100)
        )
        token_a = gateway.issue_token(run_id=run.id, node_id=node.id, evaluation_id=first.id)
        token_b = gateway.issue_token(run_id=run.id, node_id=node.id, evaluation_id=second.id)
        gateway.set_evaluation_budget(second.id, Budget(calls=5))
        a = hammer(gateway, token_a, calls_each=1)
        b = hammer(gateway, token_b, calls_each=1)
        gateway.flush()
    assert codes(a) == {200: 3, 429: 5} and codes(b) == {200: 5, 429: 3}
    message = next(r for r in a if r.status_code == 429).json()["error"]["message"]
    assert f"call budget of evaluation {first.id}" in message
    assert [c.evaluation_id for c in archive.repo.llm_calls(run_id=run.id)].count(second.id) == 5
    assert archive.repo.get_run(run.id).llm_calls_count == 8


def test_usd_budget_uses_the_backend_prices(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("usd", {})
    priced = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}  # 0.02 USD a call here
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server, **priced), repo=archive.repo, run_budget=Budget(usd=0.2))
        responses = hammer(gateway, gateway.issue_token(run_id=run.id), calls_each=2)
        gateway.flush()
    admitted = codes(responses)[200]
    calls = archive.repo.llm_calls(run_id=run.id)
    assert len(calls) == admitted and all(abs(c.cost_usd - 0.02) < 1e-9 for c in calls)
    assert archive.repo.get_run(run.id).cost_usd <= 0.2
    message = next(r for r in responses if r.status_code == 429).json()["error"]["message"]
    assert f"USD budget of run {run.id}" in message


def test_run_budget_counts_what_the_archive_already_holds(archive: Archive, gateway_factory: GatewayFactory) -> None:
    run = archive.repo.create_run("resumed", {})
    for _ in range(18):  # spent before this gateway started (a resumed run)
        archive.repo.record_llm_call(model="earlier", run_id=run.id, prompt_tokens=1, completion_tokens=1)
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo, run_budget=Budget(calls=20))
        token = gateway.issue_token(run_id=run.id)
        with caller(gateway, token) as client:
            assert [ask(client).status_code for _ in range(3)] == [200, 200, 429]
            gateway.set_run_budget(run.id, Budget(calls=21))  # the platform raises the limit
            assert [ask(client).status_code for _ in range(2)] == [200, 429]
        gateway.flush()
    assert archive.repo.get_run(run.id).llm_calls_count == 21


def test_unknown_run_in_a_token_is_refused(archive: Archive, gateway_factory: GatewayFactory) -> None:
    with ScriptedServer(Script(default=FIXED)) as server:
        gateway = gateway_factory(scripted_backend(server), repo=archive.repo)
        with caller(gateway, gateway.issue_token(run_id=999_999)) as client:
            refused = ask(client)
    assert refused.status_code == 403 and "run 999999" in refused.json()["error"]["message"]
    assert server.chat_requests == []
