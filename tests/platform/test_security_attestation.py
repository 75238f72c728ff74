"""The trust-framework attestation (tillitsrammeverk): in the token, as HelseID puts it, or in the
Tillitsrammeverk-Attestation header signed with the DPoP key; in the audit log without the
practitioner's national id; required by a tenant's policy; never older than 60 minutes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest
from joserfc.jwk import ECKey

from journalloft.platform.auth.attestation import (
    ATTESTATION_HEADER,
    Attestation,
    AttestationRefused,
    attestation_from_details,
)
from support import SERVICES, people, sample_record, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import (
    PRACTITIONER_PID,
    PUBLIC_URL,
    an_hour_ago,
    attestation_details,
    attestation_header,
    claims_of,
    dpop_headers,
    dpop_token,
)

ALICE, BOB = people(2, seed="security-attestation")
QUERY = "/v1/news2/query"
AT = an_hour_ago()


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø, and Tromsø (5501), which requires an attestation for every patient lookup."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("attestation")):
        platform.onboard(tenant_document("1804"))
        platform.onboard(
            tenant_document(
                "5501",
                name="Tromsø kommune",
                organisasjonsnummer="940101808",
                policy={"require_attestation": True},
            )
        )
        for kommunenummer, source in (("1804", "bodo-epj"), ("5501", "k5501-epj")):
            record = {"id": "a-1", "patient": ALICE, "updated": AT, "effective": AT}
            pushed = platform.client.post(
                f"/v1/tenants/{kommunenummer}/news2/records",
                json={"records": [{**record, "spo2_scale": 1}]},
                headers=platform.headers(source),
            )
            assert pushed.status_code == 200, pushed.text
        yield platform


def token_with_attestation(platform: TestPlatform, client_id: str, details: Any) -> httpx.Response:
    form = token_form(client_id, platform.key(client_id), audience=PUBLIC_URL)
    form["authorization_details"] = json.dumps(details)
    return platform.client.post("/oauth/token", data=form)


def look_up(platform: TestPlatform, headers: dict[str, str], kommune: str = "1804") -> Any:
    return platform.client.post(
        QUERY, json={"patients": [ALICE], "kommuner": [kommune]}, headers=headers
    )


def access_log(platform: TestPlatform, kommunenummer: str = "1804") -> list[dict[str, Any]]:
    operator = {"1804": "bodo-drift", "5501": "k5501-drift"}[kommunenummer]
    response = platform.client.post(
        f"/v1/tenants/{kommunenummer}/audit/query",
        json={"patient": ALICE},
        headers=platform.headers(operator),
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_an_attestation_in_the_token_is_in_the_audit_log_without_a_national_id(
    platform: TestPlatform,
) -> None:
    issued = token_with_attestation(
        platform, "bodo-legevakt", [attestation_details(decision_ref="vakt-2211")]
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert PRACTITIONER_PID not in json.dumps(claims_of(token))
    carried = claims_of(token)["authorization_details"][0]
    assert carried["practitioner"]["identifier"] == {"name": "Lege Legesen"}
    response = look_up(platform, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    event = next(e for e in access_log(platform) if e["decision_ref"] == "vakt-2211")
    assert event["practitioner_name"] == "Lege Legesen"
    assert event["practitioner_hpr"] == "9144900"
    assert event["purpose"] == "ETREAT"
    assert event["healthcare_service"] == "KA02"
    assert event["legal_entity"] == "974760673"
    assert event["point_of_care"] == "974760673"
    assert event["organisasjonsnummer"] == "972418013"  # the client's own, from its token
    assert PRACTITIONER_PID not in json.dumps(access_log(platform))


def test_an_attestation_in_a_header_signed_with_the_dpop_key(platform: TestPlatform) -> None:
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "bodo-legevakt", key)
    details = attestation_details(name="Sykepleier Sara", hpr=None, purpose="TREAT")
    headers = dpop_headers(token, key, "POST", QUERY)
    headers[ATTESTATION_HEADER] = attestation_header(key, "bodo-legevakt", details)
    response = look_up(platform, headers)
    assert response.status_code == 200, response.text
    event = next(e for e in access_log(platform) if e["practitioner_name"] == "Sykepleier Sara")
    assert (event["purpose"], event["practitioner_hpr"]) == ("TREAT", None)
    assert PRACTITIONER_PID not in json.dumps(event)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("signed by another key", "DPoP key"),
        ("sent with a bearer token", "DPoP key"),
        ("older than 60 minutes", "60 minutes"),
        ("for another audience", "aud"),
        ("from another client", "iss"),
        ("of another type", "typ"),
        ("purpose not for care", "purpose_of_use"),
        ("national id as legal entity", "legal_entity"),
    ],
)
def test_an_attestation_header_that_is_not_the_callers_is_refused(
    platform: TestPlatform, case: str, reason: str
) -> None:
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "bodo-legevakt", key)
    headers = dpop_headers(token, key, "POST", QUERY)
    details = attestation_details()
    signer, options = key, dict[str, Any]()
    if case == "signed by another key":
        signer = ECKey.generate_key("P-256")
    elif case == "sent with a bearer token":
        headers = dict(platform.headers("bodo-legevakt"))
    elif case == "older than 60 minutes":
        options = {"iat": int(time.time()) - 3601}
    elif case == "for another audience":
        options = {"audience": "https://kjernejournal.example"}
    elif case == "of another type":
        options = {"header": {"typ": "JWT"}}
    elif case == "purpose not for care":
        details = attestation_details(purpose="HMARKT")
    elif case == "national id as legal entity":
        details = attestation_details(legal_entity=PRACTITIONER_PID)
    client = "baerum-legevakt" if case == "from another client" else "bodo-legevakt"
    headers[ATTESTATION_HEADER] = attestation_header(signer, client, details, **options)
    response = look_up(platform, headers)
    assert response.status_code == 403, response.text
    assert response.json()["title"] == "Attestation refused"
    assert reason in response.json()["detail"]


def test_a_tenant_can_require_an_attestation_for_lookups(platform: TestPlatform) -> None:
    plain = look_up(platform, platform.headers("k5501-legevakt"), "5501")
    assert plain.status_code == 403
    assert plain.json()["title"] == "Attestation required"
    assert not [e for e in access_log(platform, "5501") if e["action"] == "read"]
    token = token_with_attestation(platform, "k5501-legevakt", [attestation_details()]).json()
    attested = look_up(platform, {"Authorization": f"Bearer {token['access_token']}"}, "5501")
    assert attested.status_code == 200, attested.text
    assert attested.json()["results"][0]["kommunenummer"] == "5501"
    assert look_up(platform, platform.headers("bodo-legevakt")).status_code == 200


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ([attestation_details(purpose="PAYMENT")], "purpose_of_use"),
        ([{"type": "payment_initiation", "amount": "1"}], "only authorization_details"),
        ([attestation_details(), attestation_details()], "more than one"),
        ([attestation_details(healthcare_service="")], "healthcare_service"),
        ("not json", "not JSON"),
    ],
)
def test_the_built_in_issuer_refuses_bad_authorization_details(
    platform: TestPlatform, details: Any, error: str
) -> None:
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    form["authorization_details"] = details if isinstance(details, str) else json.dumps(details)
    response = platform.client.post("/oauth/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"
    assert error in response.json()["error_description"]


NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC).timestamp()


def test_reading_helseid_authorization_details() -> None:
    details = attestation_details(purpose="BTG")
    as_string = json.dumps([{"type": "other"}, details])
    read = attestation_from_details(as_string, issued_at=NOW - 60, now=NOW, source="token")
    assert read == Attestation(
        purpose="BTG",
        legal_entity="974760673",
        point_of_care="974760673",
        healthcare_service="KA02",
        practitioner_name="Lege Legesen",
        practitioner_hpr="9144900",
        decision_ref="beslutning-42",
        issued_at=NOW - 60,
        source="token",
    )
    assert read.break_the_glass
    assert read.names_practitioner
    assert attestation_from_details([{"type": "other"}], issued_at=NOW, now=NOW, source="x") is None
    one_object = attestation_from_details(details, issued_at=NOW, now=NOW, source="token")
    assert one_object is not None
    assert one_object.purpose == "BTG"


@pytest.mark.parametrize(
    ("issued_at", "reason"),
    [
        (NOW - timedelta(minutes=60, seconds=1).total_seconds(), "older than 60 minutes"),
        (NOW + 120, "future"),
        (None, "not dated"),
        ("2026-11-22T03:00:00Z", "not dated"),
    ],
)
def test_an_attestation_is_dated_and_at_most_60_minutes_old(issued_at: Any, reason: str) -> None:
    with pytest.raises(AttestationRefused, match=reason):
        attestation_from_details(
            [attestation_details()], issued_at=issued_at, now=NOW, source="token"
        )
    exactly_an_hour = attestation_from_details(
        [attestation_details()], issued_at=NOW - 3600, now=NOW, source="token"
    )
    assert exactly_an_hour is not None


@pytest.mark.parametrize("service", SERVICES)
def test_every_services_lookups_need_the_attestation_the_tenant_requires(
    platform: TestPlatform, service: str
) -> None:
    pushed = platform.client.post(
        f"/v1/tenants/5501/{service}/records",
        json={"records": [sample_record(service, f"every-{service}", BOB, at=AT)]},
        headers=platform.headers("k5501-epj"),
    )
    assert pushed.status_code == 200, pushed.text
    body = {"patients": [BOB], "kommuner": ["5501"]}
    plain = platform.client.post(
        f"/v1/{service}/query", json=body, headers=platform.headers("k5501-legevakt")
    )
    assert plain.status_code == 403
    assert plain.json()["title"] == "Attestation required"
    token = token_with_attestation(platform, "k5501-legevakt", [attestation_details()]).json()
    attested = platform.client.post(
        f"/v1/{service}/query",
        json=body,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert attested.status_code == 200, attested.text
    assert [(r["patient"], r["kommunenummer"]) for r in attested.json()["results"]] == [
        (BOB, "5501")
    ]
