"""schemathesis against the app's own OpenAPI: no 500 for anything a client can send.

The platform is built once for the module (a fixture, not at import): tenant 1804 grants one client
every right, so that generated requests reach the handlers instead of stopping at 401 or 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from journalloft.platform.auth.clients import add_key, register_client
from support import tenant_document
from support.platform import Backend, TestPlatform, start_platform

FUZZER = "fuzz-everything"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    for harness in start_platform(Backend("sqlite", None, None), tmp):
        document = tenant_document("1804")
        everything = {"client_id": FUZZER, "name": "Fuzzer", "services": list(document["services"])}
        document["sources"].append(everything)
        document["consumers"].append(everything)
        document["operators"].append({"client_id": FUZZER, "name": "Fuzzer"})
        harness.onboard(document)
        with harness.runtime.stores.platform_engine.begin() as connection:
            register_client(connection, client_id=FUZZER, name="Fuzzer", admin=True)
            add_key(connection, client_id=FUZZER, jwk=harness.key(FUZZER).as_dict(private=False))
        yield harness


def auth(fuzzed: TestPlatform) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzzed.token(FUZZER)}"}


def test_no_server_error_for_any_input(fuzzed: TestPlatform) -> None:
    """Every operation of the OpenAPI document, 30 generated requests each."""
    assert isinstance(fuzzed.client, TestClient)
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.client.app)
    headers = auth(fuzzed)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) > 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()


def test_the_fuzzer_reaches_the_handlers(fuzzed: TestPlatform) -> None:
    """Guard against a run that only ever saw 401s: the fuzzer's token works everywhere."""
    response = fuzzed.client.get("/v1/tenants", headers=auth(fuzzed))
    assert response.status_code == 200
    assert response.json()["tenants"][0]["kommunenummer"] == "1804"
