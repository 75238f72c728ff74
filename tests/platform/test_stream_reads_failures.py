"""The event streams' shared read when the audit log or the store fails
(operations/stream_reads.py).

Streams woken together share one read and one audit write. If either fails, every stream that
waited on it gets the failure (as its own lookup would have), none gets data, and the audit log
holds no read for any of them: there was no read that left the platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from journalloft.platform.audit.log import AuditUnavailable
from journalloft.platform.auth.tokens import principal_from_claims
from journalloft.platform.caller import Caller
from journalloft.platform.core.tenancy import Tenant, tenant_schema_name
from journalloft.platform.operations.access import reader_access
from journalloft.platform.operations.stream_reads import read_for_stream
from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import an_hour_ago, claims_of

ANNE, BJORN = people(2, seed="live-reads-failures")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("live-reads")):
        platform.onboard(tenant_document("1804"))
        at = an_hour_ago()
        pushed = platform.client.post(
            "/v1/tenants/1804/news2/records",
            json={
                "records": [
                    {"id": f"m-{p}", "patient": p, "updated": at, "effective": at, "spo2_scale": 1}
                    for p in (ANNE, BJORN)
                ]
            },
            headers=platform.headers("bodo-epj"),
        )
        assert pushed.status_code == 200, pushed.text
        yield platform


def tenant(platform: TestPlatform) -> Tenant:
    found = platform.runtime.tenants.get("1804")
    assert found is not None
    return found


def read_together(platform: TestPlatform, correlation: str) -> list[Any]:
    """Two streams' reads (Anne's and Bjørn's) within one window, on the app's event loop; each
    one's answer or the exception it got."""
    principal = principal_from_claims(
        claims_of(platform.token("bodo-legevakt")), issuer="http://testserver"
    )
    service = platform.runtime.services["news2"]

    async def both() -> list[Any]:
        reads = [
            read_for_stream(
                platform.runtime,
                reader_access(Caller(principal, f"{correlation}-{p}", None, NOW), service),
                tenant(platform),
                patients=[p],
                options={},
                sent={},
            )
            for p in (ANNE, BJORN)
        ]
        gathered = asyncio.gather(*reads, return_exceptions=True)
        return list(await asyncio.wait_for(gathered, timeout=30))  # a lost answer fails, not hangs

    client = platform.client
    assert isinstance(client, TestClient)
    assert client.portal is not None
    return client.portal.call(both)


def rename(platform: TestPlatform, old: str, new: str) -> None:
    stores = platform.runtime.stores
    qualified = f"{tenant_schema_name('1804')}.{old}" if stores.postgres else old
    with stores.tenant_engine("1804").begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {qualified} RENAME TO {new}")


def reads_logged(platform: TestPlatform, correlation: str) -> list[str]:
    found = []
    for patient in (ANNE, BJORN):
        answer = platform.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": patient},
            headers=platform.headers("bodo-drift"),
        )
        assert answer.status_code == 200, answer.text
        found += [
            e["correlation_id"]
            for e in answer.json()["events"]
            if e["action"] == "read" and e["correlation_id"].startswith(correlation)
        ]
    return sorted(found)


def test_streams_read_together_each_get_their_own_answer_and_audit_event(
    platform: TestPlatform,
) -> None:
    anne, bjorn = read_together(platform, "shared-ok")
    assert list(anne) == [ANNE]
    assert list(bjorn) == [BJORN]
    assert reads_logged(platform, "shared-ok") == [f"shared-ok-{ANNE}", f"shared-ok-{BJORN}"]


def test_when_the_audit_cannot_be_written_every_stream_fails_and_none_gets_data(
    platform: TestPlatform,
) -> None:
    rename(platform, "audit_event", "audit_event_offline")
    try:
        outcomes = read_together(platform, "audit-down")
    finally:
        rename(platform, "audit_event_offline", "audit_event")
    assert all(isinstance(o, AuditUnavailable) for o in outcomes), outcomes
    assert outcomes[0] is outcomes[1]  # one read, one failure, told to both
    assert reads_logged(platform, "audit-down") == []


def test_when_the_store_fails_every_stream_fails_and_nothing_is_audited_as_read(
    platform: TestPlatform,
) -> None:
    rename(platform, "news2_measurement", "news2_measurement_offline")
    try:
        outcomes = read_together(platform, "store-down")
    finally:
        rename(platform, "news2_measurement_offline", "news2_measurement")
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    assert outcomes[0] is outcomes[1]
    assert reads_logged(platform, "store-down") == []
    anne, bjorn = read_together(platform, "store-back")  # and the next read is whole again
    assert (list(anne), list(bjorn)) == ([ANNE], [BJORN])
