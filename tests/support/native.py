"""The native API as a service's tests call it: push and withdraw as the municipality's source,
look up as a client, read the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from support.platform import TestPlatform

SOURCES = {"1804": "bodo-epj", "3201": "baerum-epj"}
"""The pilots' journal systems (the tenant documents' sources)."""
CONSUMERS = {"1804": "bodo-legevakt", "3201": "baerum-legevakt"}
"""The pilots' legevakt clients."""


@dataclass(frozen=True)
class NativeApi:
    """One service's records and lookup routes."""

    service: str

    def push(
        self, platform: TestPlatform, kommunenummer: str, *records: dict[str, Any], client: str = ""
    ) -> Any:
        """``records`` in one batch, as ``client`` (by default the municipality's source)."""
        return platform.client.post(
            f"/v1/tenants/{kommunenummer}/{self.service}/records",
            json={"records": list(records)},
            headers=platform.headers(client or SOURCES[kommunenummer]),
        )

    def withdraw(
        self, platform: TestPlatform, kommunenummer: str, record_id: str, client: str = ""
    ) -> Any:
        return platform.client.delete(
            f"/v1/tenants/{kommunenummer}/{self.service}/records/{record_id}",
            headers=platform.headers(client or SOURCES[kommunenummer]),
        )

    def look_up(self, platform: TestPlatform, client: str, *patients: str, **options: Any) -> Any:
        return platform.client.post(
            f"/v1/{self.service}/query",
            json={"patients": list(patients), **options},
            headers=platform.headers(client),
        )

    def results(self, platform: TestPlatform, client: str, *patients: str, **options: Any) -> Any:
        """The lookup's ``results`` (the answer must be 200)."""
        response = self.look_up(platform, client, *patients, **options)
        assert response.status_code == 200, response.text
        return response.json()["results"]


def audit(platform: TestPlatform, kommunenummer: str, patient: str, client: str) -> Any:
    """The municipality's audit events about ``patient``, as ``client`` asks for them."""
    return platform.client.post(
        f"/v1/tenants/{kommunenummer}/audit/query",
        json={"patient": patient},
        headers=platform.headers(client),
    )


def selects_from(caplog: pytest.LogCaptureFixture, table: str) -> list[str]:
    """The statements the platform logged (``journalloft.sql`` at DEBUG, captured by ``caplog``)
    that read from a table whose name holds ``table``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "journalloft.sql" and "FROM " in r.getMessage() and table in r.getMessage()
    ]
