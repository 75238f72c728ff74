"""A third sharing service, from outside the platform: the test plugin ``plugin_cave`` is
registered by a setting, brings its own schemas and migrations, and gets every rule of the
platform (grants, audit, restrictions, withdraw) without any change under ``platform/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journalloft.platform.plugins.registry import RegistryError, discover_services
from support import SERVICES, people, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import an_hour_ago

ALICE, BOB = people(2, seed="plugins")
AT = an_hour_ago()
PLUGIN = "plugin_cave:spec"
KIND = "https://journalloft.no/fhir/CodeSystem/cave-kind"


@pytest.fixture
def with_cave(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    for platform in start_platform(backend, tmp_path, service_plugins=[PLUGIN]):
        services: dict[str, dict[str, Any]] = {"kommunale-tjenester": {}, "news2": {}, "cave": {}}
        platform.onboard(tenant_document("1804", services=services))
        yield platform


def test_a_plugin_service_gets_the_platforms_routes_and_rules(with_cave: TestPlatform) -> None:
    platform = with_cave
    assert set(platform.runtime.services) == {*SERVICES, "cave"}  # the installed ones and cave
    entry = {"id": "c-1", "patient": ALICE, "updated": AT, "kind": "allergi", "text": "Penicillin"}
    pushed = platform.client.post(
        "/v1/tenants/1804/cave/records",
        json={"records": [entry]},
        headers=platform.headers("bodo-epj"),
    )
    assert pushed.json() == {"received": 1, "created": 1, "updated": 0, "unchanged": 0, "stale": 0}
    invalid = platform.client.post(
        "/v1/tenants/1804/cave/records",
        json={"records": [{**entry, "kind": "hobby"}]},
        headers=platform.headers("bodo-epj"),
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["pointer"] == "/records/0/kind"
    query = {"patients": [ALICE, BOB]}
    found = platform.client.post(
        "/v1/cave/query", json=query, headers=platform.headers("bodo-legevakt")
    )
    assert found.status_code == 200, found.text
    assert found.json()["results"] == [
        {
            "patient": ALICE,
            "kommunenummer": "1804",
            "entries": [{"id": "c-1", "kind": "allergi", "text": "Penicillin"}],
        }
    ]
    refused = platform.client.post(
        "/v1/cave/query", json=query, headers=platform.headers("bodo-epj")
    )
    assert refused.status_code == 403  # a source has no cave:read
    restricted = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": ALICE, "restricted": True},
        headers=platform.headers("bodo-drift"),
    )
    assert restricted.status_code == 200
    hidden = platform.client.post(
        "/v1/cave/query", json=query, headers=platform.headers("bodo-legevakt")
    )
    assert hidden.json()["results"] == [
        {"patient": ALICE, "kommunenummer": "1804", "restricted": True}
    ]
    log = platform.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": ALICE},
        headers=platform.headers("bodo-drift"),
    ).json()["events"]
    assert {(e["action"], e["service"]) for e in log} >= {("write", "cave"), ("read", "cave")}
    withdrawn = platform.client.delete(
        "/v1/tenants/1804/cave/records/c-1", headers=platform.headers("bodo-epj")
    )
    assert withdrawn.status_code == 204
    assert (
        "cave"
        in platform.client.get("/openapi.json").json()["paths"]["/v1/cave/query"]["post"][
            "operationId"
        ]
    )


def test_a_plugin_that_cannot_be_loaded_stops_the_platform() -> None:
    with pytest.raises(RegistryError, match="no_such_module"):
        discover_services(["no_such_module:spec"])
    with pytest.raises(RegistryError, match="module:attribute"):
        discover_services(["plugin_cave"])


def test_the_plugin_brings_its_fhir_resource_through_the_face(with_cave: TestPlatform) -> None:
    """Flag (tests/plugin_cave/fhir.py) is served by the FHIR face with no change outside the
    plugin: written by a transaction, found by a search, listed in the CapabilityStatement."""
    platform = with_cave
    statement = platform.client.get("/fhir/metadata").json()
    assert "Flag" in {r["type"] for r in statement["rest"][0]["resource"]}
    flag = {
        "resourceType": "Flag",
        "meta": {"lastUpdated": AT},
        "identifier": [{"system": "urn:test:epj", "value": "c-9"}],
        "status": "active",
        "category": [
            {
                "coding": [
                    {"system": "https://journalloft.no/fhir/CodeSystem/cave-kind", "code": "smitte"}
                ]
            }
        ],
        "code": {"text": "MRSA"},
        "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": ALICE}},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": flag, "request": {"method": "POST", "url": "Flag"}}],
    }
    fhir_json = {"Content-Type": "application/fhir+json"}
    written = platform.client.post(
        "/fhir/1804", json=bundle, headers=platform.headers("bodo-epj", **fhir_json)
    )
    assert written.status_code == 200, written.text
    assert written.json()["entry"][0]["response"]["status"] == "201 Created"
    native = platform.client.post(
        "/v1/cave/query", json={"patients": [ALICE]}, headers=platform.headers("bodo-legevakt")
    ).json()["results"]
    assert native[0]["entries"] == [{"id": "urn:test:epj|c-9", "kind": "smitte", "text": "MRSA"}]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    person = f"urn:oid:2.16.578.1.12.4.1.4.1|{ALICE}"
    found = platform.client.post(
        "/fhir/Flag/_search",
        data={"patient:identifier": person},
        headers=platform.headers("bodo-legevakt", **form),
    ).json()
    [entry] = found["entry"]
    assert entry["resource"]["code"] == {"text": "MRSA"}
    assert entry["resource"]["subject"]["identifier"]["value"] == ALICE
    other_kind = platform.client.post(
        "/fhir/Flag/_search",
        data={"patient:identifier": person, "category": "allergi"},
        headers=platform.headers("bodo-legevakt", **form),
    ).json()
    assert other_kind["total"] == 0
