"""schemathesis against the server's own OpenAPI document, over real HTTP:
for every operation, generated requests (valid and invalid ones) get no
5xx, and every response matches the documented status codes, content
types and schemas (schemathesis' default checks, auth included: a request
without the token must be refused).

The archive holds a small finished run (no engine, no sandbox); run
engines are not started (the launcher only records run ids), so no Docker
is needed. Examples per operation and mode stay modest for CI time.

(schemathesis' pytest integration for fixture-provided schemas does not
work with pytest 9, so the operations are driven with Hypothesis here.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from archive import Archive
from tests.api.populate import populate_run

MAX_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


@pytest.fixture
def live(serve_app, archive: Archive):  # type: ignore[no-untyped-def]
    populate_run(archive)
    return serve_app(sse_max_seconds=1.0, sse_poll_seconds=0.1)


def test_every_operation_conforms_to_the_openapi_document(live) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json", headers=live.headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: dict[str, str] = {}
    counts: dict[str, int] = {}
    for operation in operations:
        for mode, examples in MAX_EXAMPLES.items():
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"

            # A run configuration has rules no JSON schema can say (policy parameters
            # that fit the policy, roles that name backends, tasks that exist, paths
            # the server may read): a schema-valid body may rightly get a 422 there.
            excluded = [positive_data_acceptance] if (operation.method, operation.path) == ("post", "/api/runs") else []

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case) -> None:  # type: ignore[no-untyped-def]
                counts[label] = counts.get(label, 0) + 1  # noqa: B023 - check() runs within this iteration
                case.call_and_validate(base_url=live.url, headers=live.headers, timeout=30,
                                       excluded_checks=excluded)  # noqa: B023

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (GET /healthz has no parameters)
                assert mode == GenerationMode.NEGATIVE, label
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
                failures[label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    print(f"schemathesis: {sum(counts.values())} requests over {len(operations)} operations")
    assert sum(counts.values()) > 100
