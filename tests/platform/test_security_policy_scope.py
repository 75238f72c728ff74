"""One municipality's policy applies to its own data only: a lookup across municipalities answers
from those whose policy the caller meets and names the others, with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey

from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import an_hour_ago, dpop_headers, dpop_token

ALICE, BOB = people(2, seed="security-policy-scope")
QUERY = "/v1/news2/query"
AT = an_hour_ago()
LEGEVAKT = "ikl-legevakt"
"""An inter-municipal legevakt, granted by all three municipalities."""
STRICT = {"5501": {"require_dpop": True}, "5502": {"require_attestation": True}}


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    shared = [{"client_id": LEGEVAKT, "name": "Interkommunal legevakt", "services": ["news2"]}]
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("policy")):
        platform.onboard(tenant_document("1804", extra_consumers=shared))
        for kommunenummer, policy in STRICT.items():
            platform.onboard(tenant_document(kommunenummer, policy=policy, extra_consumers=shared))
        for kommunenummer, source in (("1804", "bodo-epj"), ("5502", "k5502-epj")):
            record: dict[str, Any] = {"id": "p-1", "patient": ALICE, "updated": AT, "effective": AT}
            pushed = platform.client.post(
                f"/v1/tenants/{kommunenummer}/news2/records",
                json={"records": [{**record, "spo2_scale": 1}]},
                headers=platform.headers(source),
            )
            assert pushed.status_code == 200, pushed.text
        key = ECKey.generate_key("P-256")
        token = dpop_token(platform, "k5501-epj", key)
        path = "/v1/tenants/5501/news2/records"
        record = {"id": "p-1", "patient": ALICE, "updated": AT, "effective": AT, "spo2_scale": 1}
        pushed = platform.client.post(
            path, json={"records": [record]}, headers=dpop_headers(token, key, "POST", path)
        )
        assert pushed.status_code == 200, pushed.text
        yield platform


def look_up(platform: TestPlatform, headers: dict[str, str], **body: Any) -> Any:
    return platform.client.post(QUERY, json={"patients": [ALICE], **body}, headers=headers)


def test_a_strict_municipality_does_not_break_the_lookup_in_the_others(
    platform: TestPlatform,
) -> None:
    """Before: one tenant with require_dpop made every bearer lookup without kommuner a 401."""
    response = look_up(platform, platform.headers(LEGEVAKT))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["kommunenummer"] for r in body["results"]] == ["1804"]
    refused = {r["kommunenummer"]: r["reason"] for r in body["refused"]}
    assert set(refused) == {"5501", "5502"}
    assert "requires DPoP-bound tokens" in refused["5501"]
    assert "attestation" in refused["5502"]


def test_a_caller_that_meets_every_policy_hears_from_every_municipality(
    platform: TestPlatform,
) -> None:
    key = ECKey.generate_key("P-256")
    details = [
        {
            "type": "nhn:tillitsrammeverk:parameters",
            "practitioner": {
                "legal_entity": {"id": "972418013"},
                "point_of_care": {"id": "972418013"},
                "identifier": {"name": "Lege Legesen"},
            },
            "care_relationship": {
                "healthcare_service": {"code": "S03"},
                "purpose_of_use": {"code": "ETREAT"},
            },
        }
    ]
    token = dpop_token(platform, LEGEVAKT, key, authorization_details=details)
    response = look_up(platform, dpop_headers(token, key, "POST", QUERY))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["kommunenummer"] for r in body["results"]] == ["1804", "5501", "5502"]
    assert "refused" not in body


@pytest.mark.parametrize(("kommunenummer", "status"), [("5501", 401), ("5502", 403)])
def test_a_municipality_named_explicitly_answers_with_its_refusal(
    platform: TestPlatform, kommunenummer: str, status: int
) -> None:
    response = look_up(platform, platform.headers(LEGEVAKT), kommuner=["1804", kommunenummer])
    assert response.status_code == status, response.text


def test_when_no_municipality_would_answer_the_refusal_is_the_answer(
    platform: TestPlatform,
) -> None:
    """k5501-legevakt is granted by Tromsø alone, which requires DPoP: a bearer lookup is 401."""
    response = look_up(platform, platform.headers("k5501-legevakt"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("DPoP")
