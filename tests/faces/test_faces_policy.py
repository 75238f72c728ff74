"""A municipality's policy (DPoP, attestation, rate limit) applies to both faces as natively:
the same status, the same challenge."""

from __future__ import annotations

from typing import Any

import pytest

from support import people, tenant_document
from support.fhir import FNR, news2_bundle
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")


def with_policy(platform: TestPlatform, **policy: Any) -> None:
    platform.onboard(tenant_document("1804", policy=policy))


def test_a_tenant_that_requires_dpop_refuses_bearer_on_every_face(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="faces-dpop")
    with_policy(platform, require_dpop=True)
    native = platform.client.post(
        "/v1/news2/query",
        json={"patients": [eva], "kommuner": ["1804"]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert native.status_code == 401
    calls = [
        platform.client.post(
            "/fhir/1804/Observation/_search",
            data={"patient:identifier": f"{FNR}|{eva}"},
            headers=platform.headers("bodo-legevakt"),
        ),
        platform.client.post(
            "/fhir/Observation/_search",
            data={"patient:identifier": f"{FNR}|{eva}"},
            headers=platform.headers("bodo-legevakt"),
        ),
        platform.client.post(
            "/fhir/1804", json=news2_bundle(eva, "m-1"), headers=platform.headers("bodo-epj")
        ),
        platform.client.get(f"/okt/okt-status/{eva}", headers=platform.headers("bodo-legevakt")),
        platform.client.post(
            "/okt/okt-events",
            json={"personIdentifier": eva, "oktMessages": []},
            headers=platform.headers("bodo-epj"),
        ),
    ]
    for response in calls:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == native.headers["www-authenticate"]
    assert calls[0].json()["resourceType"] == "OperationOutcome"
    assert calls[0].json()["issue"][0]["code"] == "login"
    assert calls[3].headers["content-type"].startswith("application/problem+json")


def test_the_rate_limit_counts_every_face(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="faces-rate")
    with_policy(platform, rate_limit_per_minute=2)
    form = {"patient:identifier": f"{FNR}|{eva}"}
    headers = platform.headers("bodo-legevakt")
    statuses = [
        platform.client.post(
            "/fhir/1804/Observation/_search", data=form, headers=headers
        ).status_code,
        platform.client.get(f"/okt/okt-status/{eva}", headers=headers).status_code,
        platform.client.post(
            "/fhir/1804/EpisodeOfCare/_search", data=form, headers=headers
        ).status_code,
    ]
    assert statuses[:2] == [200, 200]
    assert statuses[2] == 429


def test_attestation_required_for_lookups_on_every_face(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="faces-attestation")
    with_policy(platform, require_attestation=True)
    fhir = platform.client.post(
        "/fhir/1804/EpisodeOfCare/_search",
        data={"patient:identifier": f"{FNR}|{eva}"},
        headers=platform.headers("bodo-legevakt"),
    )
    assert fhir.status_code == 403
    assert fhir.json()["issue"][0]["details"]["text"] == "Attestation required"
    okt = platform.client.get(
        "/okt/okt-events", headers=platform.headers("bodo-legevakt", **{"person-id": eva})
    )
    assert okt.status_code == 403
