"""No read ever returns data outside the grants: random tenants (with random adopted services),
random consumers and random grants, over one platform whose every tenant holds data on the same
person in every service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey
from sqlalchemy import update

from journalloft.platform.auth.clients import add_key, register_client
from journalloft.platform.storage.directory import TENANT_TABLE
from support import SERVICES, people, sample_record, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
AT = "2026-11-22T02:00:00+00:00"
TENANTS = ("1804", "3201", "5501", "4601")
CONSUMERS = ("lv-nord", "lv-sor", "lv-vest")
(PATIENT,) = people(1, seed="security-grants")
RECORDS = {name: sample_record(name, "g-1", PATIENT, at=AT) for name in SERVICES}


def document(
    kommunenummer: str, services: frozenset[str], grants: dict[str, frozenset[str]]
) -> Any:
    adopted: dict[str, dict[str, Any]] = {s: {} for s in sorted(services)}
    base = tenant_document(kommunenummer, services=adopted)
    base["consumers"] = [
        {"client_id": c, "name": c, "services": sorted(grants[c])} for c in CONSUMERS if grants[c]
    ]
    return base


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Every tenant with every service and the same person in each; every consumer registered."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("grants")):
        platform.set_now(NOW)
        everything = {c: frozenset(SERVICES) for c in CONSUMERS}
        for kommunenummer in TENANTS:
            tenant = platform.onboard(document(kommunenummer, frozenset(SERVICES), everything))
            for name, record in RECORDS.items():
                response = platform.client.post(
                    f"/v1/tenants/{kommunenummer}/{name}/records",
                    json={"records": [record]},
                    headers=platform.headers(tenant.sources[0].client_id),
                )
                assert response.status_code == 200, response.text
        with platform.runtime.stores.platform_engine.begin() as connection:
            for consumer in CONSUMERS:
                key = platform.keys.setdefault(consumer, ECKey.generate_key("P-256"))
                register_client(connection, client_id=consumer, name=consumer)
                add_key(connection, client_id=consumer, jwk=key.as_dict(private=False))
        yield platform


def apply(platform: TestPlatform, documents: dict[str, Any]) -> None:
    """Change what each tenant adopted and granted, as an edited tenant file would."""
    with platform.runtime.stores.platform_engine.begin() as connection:
        for kommunenummer, doc in documents.items():
            connection.execute(
                update(TENANT_TABLE)
                .where(TENANT_TABLE.c.kommunenummer == kommunenummer)
                .values(document=doc)
            )
    platform.runtime.tenants.reload()
    platform._tokens.clear()


services_strategy = st.frozensets(st.sampled_from(SERVICES))


def grant_strategy(adopted: frozenset[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(sorted(adopted))) if adopted else st.just(frozenset())


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]]:
    """Per tenant: the services it adopted, and per consumer the services it granted."""
    chosen: dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]] = {}
    for kommunenummer in TENANTS:
        adopted = draw(services_strategy)
        grants = {c: draw(grant_strategy(adopted)) for c in CONSUMERS}
        chosen[kommunenummer] = (adopted, grants)
    return chosen


# 50 configurations: each onboards three tenants anew (about 0.1 s on SQLite, 0.4 s on PostgreSQL)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configuration=configurations())
def test_no_read_returns_data_outside_the_grants(
    platform: TestPlatform,
    configuration: dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]],
) -> None:
    apply(platform, {k: document(k, *v) for k, v in configuration.items()})
    for consumer in CONSUMERS:
        granted = {
            name: {k for k, (_, grants) in configuration.items() if name in grants[consumer]}
            for name in SERVICES
        }
        if not any(granted.values()):
            refused = platform.client.post(
                "/oauth/token",
                data=token_form(consumer, platform.key(consumer), audience="http://testserver"),
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_scope"
            continue
        headers = platform.headers(consumer)
        for name in SERVICES:
            everywhere = platform.client.post(
                f"/v1/{name}/query", json={"patients": [PATIENT]}, headers=headers
            )
            if not granted[name]:
                assert everywhere.status_code == 403, everywhere.text
            else:
                assert everywhere.status_code == 200, everywhere.text
                seen = [r["kommunenummer"] for r in everywhere.json()["results"]]
                assert seen == sorted(granted[name])
            for kommunenummer, (adopted, _) in configuration.items():
                one = platform.client.post(
                    f"/v1/{name}/query",
                    json={"patients": [PATIENT], "kommuner": [kommunenummer]},
                    headers=headers,
                )
                if name not in adopted:
                    expected = 403 if not granted[name] else 404
                    assert one.status_code == expected, one.text
                elif kommunenummer not in granted[name]:
                    assert one.status_code == 403, one.text
                else:
                    assert one.status_code == 200, one.text
                    assert [r["kommunenummer"] for r in one.json()["results"]] == [kommunenummer]
