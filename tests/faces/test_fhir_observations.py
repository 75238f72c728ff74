"""Observation, which two services serve (NEWS2's scores and vital signs, Kartlegginger's
assessments): a search asks each service the caller may read that its parameters can match and
merges their answers; a written resource goes to the one service that claims it, never a guess;
the CapabilityStatement names the type once. Every answer is checked by the FHIR validators."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from journalloft.faces.fhir.capability import capability_statement
from journalloft.faces.fhir.resources import Served, merged_parameters
from journalloft.plugin import OSLO, fhir
from journalloft.services.kartlegginger.fhir import BANDS, LOINC
from support import people, sample_record, tenant_document
from support.fhir import FNR, news2_bundle, transaction, validate
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED = "http://snomed.info/sct"
NEWS2_TOTAL = "1104051000000101"
BRADEN = "38227-5"


def assessed_day(days_ago: int = 2) -> str:
    return (datetime.now(OSLO).date() - timedelta(days=days_ago)).isoformat()


def braden(person: str, record_id: str, **changes: Any) -> dict[str, Any]:
    """A Braden assessment Observation as a journal system sends it (LOINC total and
    subscales, 13: moderate)."""
    subscales = {"38222-6": 2, "38229-1": 3, "38223-4": 2, "38224-2": 2, "38225-9": 3,
                 "38226-7": 1}  # fmt: skip
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:epj", "value": record_id}],
        "meta": {"lastUpdated": datetime.now(UTC).isoformat()},
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey"}]}],
        "code": {"coding": [{"system": LOINC, "code": BRADEN}]},
        "subject": {"identifier": {"system": FNR, "value": person}},
        "effectiveDateTime": assessed_day(),
        "valueInteger": 13,
        "interpretation": [{"coding": [{"system": BANDS, "code": "moderate"}]}],
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueInteger": score}
            for code, score in subscales.items()
        ],
        "performer": [{"type": "Organization", "display": "Sykehjemmet, avdeling 2"}],
    }
    return resource | changes


def write(platform: TestPlatform, bundle: dict[str, Any]) -> Any:
    return platform.client.post(
        "/fhir/1804", json=bundle, headers=platform.headers("bodo-epj", **FHIR_JSON)
    )


def search(
    platform: TestPlatform,
    person: str,
    client: str = "bodo-legevakt",
    *,
    path: str = "/fhir/Observation/_search",
    scope: str | None = None,
    **params: str,
) -> Any:
    form = {"patient:identifier": f"{FNR}|{person}", **params}
    return platform.client.post(path, data=form, headers=platform.headers(client, scope, **FORM))


def matched(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def kind(resource: dict[str, Any]) -> str:
    codes = fhir.codes_of_concept(resource["code"])
    if (SNOMED, NEWS2_TOTAL) in codes:
        return "news2"
    if (LOINC, BRADEN) in codes:
        return "braden"
    return "vital"


def native(platform: TestPlatform, service: str, person: str) -> list[dict[str, Any]]:
    answer = platform.client.post(
        f"/v1/{service}/query",
        json={"patients": [person]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["results"]
    return found


def reads(platform: TestPlatform, person: str) -> list[str]:
    """The services whose lookups of ``person`` the audit log holds, in order."""
    log = platform.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": person},
        headers=platform.headers("bodo-drift"),
    )
    assert log.status_code == 200, log.text
    return sorted(e["service"] for e in log.json()["events"] if e["action"] == "read")


@pytest.fixture
def both(platform: TestPlatform) -> tuple[TestPlatform, str]:
    """A person with a NEWS2 measurement (and its five vital signs) and a Braden assessment,
    written in one transaction."""
    (eva,) = people(1, seed="fhir-observations")
    bundle = news2_bundle(eva, "m-1")
    bundle["entry"].append(
        {"resource": braden(eva, "K-1"), "request": {"method": "POST", "url": "Observation"}}
    )
    written = write(platform, bundle)
    assert written.status_code == 200, written.text
    validate(written.json())
    assert [e["response"]["status"] for e in written.json()["entry"]] == ["201 Created"] * 7
    return platform, eva


def test_a_transaction_stores_each_observation_in_its_own_service(
    both: tuple[TestPlatform, str],
) -> None:
    platform, eva = both
    [news2] = native(platform, "news2", eva)
    # a record written through FHIR is its source's identifier, system and value (issue 23)
    assert [m["id"] for m in news2["measurements"]] == ["urn:test:gerica|m-1"]
    [assessments] = native(platform, "kartlegginger", eva)
    [braden_found] = assessments["instruments"]
    assert (braden_found["instrument"], braden_found["latest"]["id"]) == ("braden", "urn:epj|K-1")
    assert braden_found["latest"]["band"] == "moderate"


def test_category_survey_finds_the_assessments_and_vital_signs_asks_news2_only(
    both: tuple[TestPlatform, str],
) -> None:
    platform, eva = both
    survey = search(platform, eva, category="survey")
    assert survey.status_code == 200, survey.text
    # NEWS2's score is a survey Observation too (HL7 Norway's VKP profile): both services match
    assert sorted(kind(r) for r in matched(survey.json())) == ["braden", "news2"]
    assert reads(platform, eva) == ["kartlegginger", "news2"]

    (bob,) = people(1, seed="fhir-observations-vitals")
    assert write(platform, news2_bundle(bob, "m-bob")).status_code == 200
    assert write(platform, transaction(braden(bob, "K-bob"))).status_code == 200
    vitals = search(platform, bob, category=f"{CATEGORY}|vital-signs")
    assert vitals.status_code == 200, vitals.text
    assert [kind(r) for r in matched(vitals.json())] == ["vital"] * 5
    assert reads(platform, bob) == ["news2"]  # Kartlegginger holds no vital signs: not asked

    assessments = search(platform, bob, code=f"{LOINC}|{BRADEN}")
    assert [kind(r) for r in matched(assessments.json())] == ["braden"]
    assert reads(platform, bob) == ["kartlegginger", "news2"]
    neither = search(platform, bob, code=f"{SNOMED}|404684003")
    assert neither.json()["total"] == 0
    assert reads(platform, bob) == ["kartlegginger", "news2"]  # neither asked


def test_a_plain_search_merges_both_services_in_a_deterministic_order(
    both: tuple[TestPlatform, str],
) -> None:
    platform, eva = both
    plain = search(platform, eva).json()
    assert plain["total"] == 2
    modes = [(e["search"]["mode"], kind(e["resource"])) for e in plain["entry"]]
    # the services in their names' order, each its lookup's; NEWS2's vital signs included
    assert modes == [("match", "braden"), ("match", "news2")] + [("include", "vital")] * 5
    assert search(platform, eva).json()["entry"] == plain["entry"]
    newest = search(platform, eva, _sort="-date").json()
    assert [kind(r) for r in matched(newest)] == ["news2", "braden"]  # an hour ago, two days
    oldest = search(platform, eva, _sort="date", _count="1").json()
    assert (oldest["total"], [kind(r) for r in matched(oldest)]) == (2, ["braden"])
    assert reads(platform, eva) == ["kartlegginger"] * 4 + ["news2"] * 4


def test_a_caller_granted_news2_only_gets_news2_and_no_error(
    both: tuple[TestPlatform, str],
) -> None:
    platform, eva = both
    scoped = search(platform, eva, scope="news2:read")
    assert scoped.status_code == 200, scoped.text
    assert [kind(r) for r in matched(scoped.json())] == ["news2"]
    assert not [e for e in scoped.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert reads(platform, eva) == ["news2"]

    # granted by the municipality for news2 only (the scope of both is no grant)
    platform.onboard(
        tenant_document(
            "1804",
            extra_consumers=[
                {"client_id": "ambulanse", "name": "Ambulanse", "services": ["news2"]}
            ],
        )
    )
    granted = search(platform, eva, "ambulanse")
    assert granted.status_code == 200, granted.text
    assert [kind(r) for r in matched(granted.json())] == ["news2"]

    neither = search(platform, eva, scope="kommunale-tjenester:read")
    assert neither.status_code == 403
    said = neither.json()["issue"][0]["diagnostics"]
    assert "kartlegginger:read" in said
    assert "news2:read" in said
    assert neither.json()["issue"][0]["details"]["text"] == "Missing scope"


def test_a_search_of_both_services_counts_one_request(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-observations-rate")
    platform.onboard(tenant_document("1804", policy={"rate_limit_per_minute": 2}))
    first = search(platform, eva, path="/fhir/1804/Observation/_search")
    second = search(platform, eva, path="/fhir/1804/Observation/_search")
    third = search(platform, eva, path="/fhir/1804/Observation/_search")
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]


def test_a_resource_no_service_or_two_claim_is_refused_by_name(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-observations-claims")
    nobody = braden(eva, "K-x", code={"coding": [{"system": SNOMED, "code": "404684003"}]})
    refused = write(platform, transaction(nobody, braden(eva, "K-ok")))
    assert refused.status_code == 422, refused.text
    [issue] = [i for i in refused.json()["issue"] if i.get("expression")]
    assert issue["expression"] == ["Bundle.entry[0].resource"]
    assert (
        "none of the services serving Observation (kartlegginger and news2)"
        in (issue["diagnostics"])
    )
    two = braden(eva, "K-2")
    two["code"]["coding"].append({"system": SNOMED, "code": NEWS2_TOTAL})
    refused = write(platform, transaction(braden(eva, "K-ok"), two))
    assert refused.status_code == 422, refused.text
    [issue] = [i for i in refused.json()["issue"] if i.get("expression")]
    assert issue["expression"] == ["Bundle.entry[1].resource"]
    assert "claimed as a record by kartlegginger and news2" in issue["diagnostics"]
    assert native(platform, "kartlegginger", eva) == []  # all or nothing: K-ok neither

    headers = platform.headers("bodo-epj", **FHIR_JSON)
    url = "/fhir/1804/Observation?identifier=urn:epj|K-put"
    put = platform.client.put(url, json=two, headers=headers)
    assert put.status_code == 422
    said = put.json()["issue"][1]["diagnostics"]
    assert said.startswith("the Observation is claimed as a record by kartlegginger and news2")
    put = platform.client.put(url, json=nobody, headers=headers)
    assert put.status_code == 422
    said = put.json()["issue"][1]["diagnostics"]
    assert said.startswith("the Observation is the record of none of the services")
    stored = platform.client.put(url, json=braden(eva, "ignored"), headers=headers)
    assert stored.status_code == 201, stored.text
    [assessments] = native(platform, "kartlegginger", eva)
    assert assessments["instruments"][0]["latest"]["id"] == "urn:epj|K-put"
    assert native(platform, "news2", eva) == []


def test_a_conditional_delete_withdraws_from_the_one_service_holding_the_record(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="fhir-observations-delete")
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    for service in ("news2", "kartlegginger"):
        pushed = platform.client.post(
            f"/v1/tenants/1804/{service}/records",
            json={"records": [sample_record(service, "same-id", eva, at=at)]},
            headers=platform.headers("bodo-epj"),
        )
        assert pushed.status_code == 200, pushed.text
    assert write(platform, transaction(braden(eva, "K-del"))).status_code == 200
    headers = platform.headers("bodo-epj", **FHIR_JSON)

    # pushed natively, the records' ids are the value alone: the condition names no system
    both = platform.client.delete("/fhir/1804/Observation?identifier=same-id", headers=headers)
    assert both.status_code == 422, both.text
    assert "kartlegginger and news2" in both.json()["issue"][1]["diagnostics"]
    assert both.json()["issue"][1]["expression"] == ["identifier"]
    assert len(native(platform, "news2", eva)[0]["measurements"]) == 1  # nothing withdrawn

    one = platform.client.delete("/fhir/1804/Observation?identifier=urn:epj|K-del", headers=headers)
    assert one.status_code == 204, one.text
    [entry] = native(platform, "kartlegginger", eva)
    assert {i["latest"]["id"] for i in entry["instruments"]} == {"same-id"}
    gone = platform.client.delete(
        "/fhir/1804/Observation?identifier=urn:epj|K-del", headers=headers
    )
    assert gone.status_code == 404


def test_the_capability_statement_names_observation_once_with_every_parameter(
    platform: TestPlatform,
) -> None:
    statement = platform.client.get("/fhir/metadata").json()
    validate(statement)
    observations = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"]
    [observation] = observations
    names = [p["name"] for p in observation["searchParam"]]
    assert names == ["patient", "subject", "code", "category", "date", "status"]
    code = next(p for p in observation["searchParam"] if p["name"] == "code")
    assert "kartlegginger: The instrument" in code["documentation"]
    assert "news2: A coding" in code["documentation"]
    assert "kartlegginger, news2" in observation["documentation"]


class Kept(fhir.Provider):
    """A provider for the merge rules: ``kind`` of ``profile``, a code parameter."""

    resource_type = "Flag"

    def __init__(self, service: str, profile: str | None, applies_to: Any = "code") -> None:
        self.service = service
        self.profile = profile
        self.search_parameters = {"code": fhir.SearchParameter(applies_to, f"{service}'s code")}

    def resources(
        self, fields: Any, *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:  # pragma: no cover - never looked up
        return []

    def record(self, resource: Any, errors: Any, *, members: Any, record_id: Any) -> Any:
        return {}  # pragma: no cover - never written


class Spec:
    def __init__(self, provider: Kept) -> None:
        self.face_parts = {"fhir": (provider,)}


def test_every_providers_profile_is_supported_and_a_parameter_means_one_thing(
    platform: TestPlatform,
) -> None:
    services: dict[str, Any] = {
        "a": Spec(Kept("a", "https://example.org/a")),
        "b": Spec(Kept("b", None)),
        "c": Spec(Kept("c", "https://example.org/c")),
    }
    served = Served(services)
    statement = capability_statement(served, base="x", settings=platform.runtime.settings)
    [flag] = statement["rest"][0]["resource"]
    assert flag["supportedProfile"] == ["https://example.org/a", "https://example.org/c"]
    with pytest.raises(TypeError, match="filters otherwise"):
        merged_parameters("Flag", [Kept("a", None), Kept("b", None, applies_to="status")])
    assert merged_parameters("Flag", [Kept("a", None)])["code"].documentation == "a's code"


def test_the_day_an_assessment_is_dated_is_what_date_searches(
    both: tuple[TestPlatform, str],
) -> None:
    platform, eva = both
    day = date.fromisoformat(assessed_day())
    on = search(platform, eva, date=day.isoformat(), category="survey").json()
    assert [kind(r) for r in matched(on)] == ["braden"]
    after = search(platform, eva, date=f"gt{day.isoformat()}").json()
    assert [kind(r) for r in matched(after)] == ["news2"]


def read(
    platform: TestPlatform, url: str, client: str = "bodo-legevakt", scope: str | None = None
) -> Any:
    return platform.client.get(url, headers=platform.headers(client, scope))


def test_a_read_asks_only_the_service_its_id_names(both: tuple[TestPlatform, str]) -> None:
    platform, eva = both
    found = search(platform, eva).json()
    urls = {
        kind(e["resource"]): (e["fullUrl"], e["resource"])
        for e in found["entry"]
        if e["search"]["mode"] == "match"
    }
    assert reads(platform, eva) == ["kartlegginger", "news2"]
    for name, service in (("braden", "kartlegginger"), ("news2", "news2")):
        url, resource = urls[name]
        before = reads(platform, eva)
        answer = read(platform, url)
        assert answer.status_code == 200, answer.text
        assert answer.json() == resource
        # one audited lookup, of the service that holds it (not the other serving Observation)
        assert reads(platform, eva) == sorted([*before, service])
    # a caller that may read news2 only: NEWS2's Observation reads, the assessment is unknown
    braden_url, _ = urls["braden"]
    news2_url, _ = urls["news2"]
    assert read(platform, news2_url, scope="news2:read").status_code == 200
    before = reads(platform, eva)
    hidden = read(platform, braden_url, scope="news2:read")
    assert hidden.status_code == 404, hidden.text
    assert reads(platform, eva) == before  # nothing looked up
    # the scope of neither service: 403 as for a search
    assert read(platform, braden_url, scope="kommunale-tjenester:read").status_code == 403
    # a municipality's grant of news2 only: the same
    platform.onboard(
        tenant_document(
            "1804",
            extra_consumers=[
                {"client_id": "ambulanse", "name": "Ambulanse", "services": ["news2"]}
            ],
        )
    )
    assert read(platform, news2_url, "ambulanse").status_code == 200
    assert read(platform, braden_url, "ambulanse").status_code == 404


def test_pages_run_through_both_services_matches(both: tuple[TestPlatform, str]) -> None:
    platform, eva = both
    first = platform.client.get(
        "/fhir/Observation",
        params={"patient:identifier": f"{FNR}|{eva}", "_count": "1"},
        headers=platform.headers("bodo-legevakt"),
    ).json()
    assert (first["total"], [kind(r) for r in matched(first)]) == (2, ["braden"])
    [next_url] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    assert eva not in next_url
    second = platform.client.get(next_url, headers=platform.headers("bodo-legevakt")).json()
    assert (second["total"], [kind(r) for r in matched(second)]) == (2, ["news2"])
    assert not [link for link in second["link"] if link["relation"] == "next"]
    [previous] = [link["url"] for link in second["link"] if link["relation"] == "previous"]
    again = platform.client.get(previous, headers=platform.headers("bodo-legevakt")).json()
    assert matched(again) == matched(first)
