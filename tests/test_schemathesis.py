"""schemathesis against the app's own OpenAPI: no 500 for anything a client can send.

The platform is built once, at import, in a temporary directory: tenant 1804 grants one client every
right, so that generated requests reach the handlers instead of stopping at 401 or 403.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from conftest import Backend, TestPlatform, start_platform
from journalloft.platform.auth.clients import add_key, register_client
from support import tenant_document

FUZZER = "fuzz-everything"


def _platform() -> TestPlatform:
    tmp = Path(tempfile.mkdtemp(prefix="journalloft-schemathesis-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    harness = next(start_platform(Backend("sqlite", None, None), tmp))
    document = tenant_document("1804")
    everything = {"client_id": FUZZER, "name": "Fuzzer", "services": list(document["services"])}
    document["sources"].append(everything)
    document["consumers"].append(everything)
    document["operators"].append({"client_id": FUZZER, "name": "Fuzzer"})
    harness.onboard(document)
    with harness.runtime.stores.platform_engine.begin() as connection:
        register_client(connection, client_id=FUZZER, name="Fuzzer", admin=True)
        add_key(connection, client_id=FUZZER, jwk=harness.key(FUZZER).as_dict(private=False))
    return harness


FUZZED = _platform()
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZED.client.app)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {FUZZED.token(FUZZER)}"}


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_any_input(case: Any) -> None:
    case.call_and_validate(headers=auth(), checks=[not_a_server_error])


def test_the_fuzzer_reaches_the_handlers() -> None:
    """Guard against a run that only ever saw 401s: the fuzzer's token works everywhere."""
    response = FUZZED.client.get("/v1/tenants", headers=auth())
    assert response.status_code == 200
    assert response.json()["tenants"][0]["kommunenummer"] == "1804"
