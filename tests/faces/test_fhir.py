"""The FHIR R4 face: writes and searches of both services, validated by a real FHIR library,
under the same rules as the native API (grants, audit, restrictions)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journalloft.faces.fhir.common import HOLDER_URL
from journalloft.platform.core.identifiers import synthetic_person_id
from support import people
from support.fhir import FNR, check_fhir, news2_bundle, okt_episode, transaction, validate
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def fhir_headers(platform: TestPlatform, client: str) -> dict[str, str]:
    return platform.headers(client, **{"Content-Type": "application/fhir+json"})


def search(platform: TestPlatform, path: str, client: str = "bodo-legevakt", **params: str) -> Any:
    response = platform.client.post(
        f"/fhir{path}", data=params, headers=platform.headers(client, **FORM)
    )
    return response


def test_metadata_is_a_valid_capability_statement(platform: TestPlatform) -> None:
    response = platform.client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    validate(statement)
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(served) == {"CarePlan", "Condition", "EpisodeOfCare", "Observation"}
    assert {p["name"] for p in served["Observation"]["searchParam"]} >= {
        "patient",
        "code",
        "date",
    }
    # declared as R4 names them: a parameter's name carries no modifier, and the person is a
    # reference (searched with its :identifier modifier)
    for resource in served.values():
        for parameter in resource["searchParam"]:
            assert ":" not in parameter["name"]
        (patient,) = [p for p in resource["searchParam"] if p["name"] == "patient"]
        assert patient["type"] == "reference"
        assert ":identifier" in patient["documentation"]
    common = {p["name"]: p["type"] for p in statement["rest"][0]["searchParam"]}
    assert common == {
        "_count": "number",
        "_sort": "string",
        "_summary": "token",
        "_format": "token",
    }


@pytest.mark.parametrize(
    ("query", "accept", "status"),
    [
        ("", None, 200),
        ("?_format=json", None, 200),
        ("?_format=application/fhir%2Bjson", None, 200),
        ("", "application/fhir+json", 200),
        ("", "application/json, text/plain;q=0.5", 200),
        ("", "*/*", 200),
        ("?_format=xml", None, 406),
        ("?_format=application/fhir%2Bxml", None, 406),
        ("", "application/fhir+xml", 406),
        ("", "text/turtle", 406),
    ],
)
def test_format_and_accept_are_json_or_406(
    platform: TestPlatform, query: str, accept: str | None, status: int
) -> None:
    headers = {"Accept": accept} if accept else {}
    answer = platform.client.get("/fhir/metadata" + query, headers=headers)
    assert answer.status_code == status, answer.text
    (eva,) = people(1, seed="fhir-format")
    form = {"patient:identifier": f"{FNR}|{eva}"}
    if "_format" in query:
        form["_format"] = query.partition("=")[2].replace("%2B", "+")
    searched = platform.client.post(
        "/fhir/EpisodeOfCare/_search" + query,
        data=form,
        headers=platform.headers("bodo-legevakt", **FORM, **headers),
    )
    assert searched.status_code == status, searched.text


def test_the_okt_ig_example_is_written_and_found(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-okt-example")
    written = platform.client.post(
        "/fhir/1804", json=transaction(okt_episode(eva)), headers=fhir_headers(platform, "bodo-epj")
    )
    assert written.status_code == 200, written.text
    validate(written.json())
    assert written.json()["entry"][0]["response"]["status"] == "201 Created"
    again = platform.client.post(
        "/fhir/1804", json=transaction(okt_episode(eva)), headers=fhir_headers(platform, "bodo-epj")
    )
    assert "unchanged" in again.json()["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"]

    found = search(
        platform,
        "/EpisodeOfCare/_search",
        **{"patient:identifier": f"{FNR}|{eva}", "date": "ge2025-01-01"},
    )
    assert found.status_code == 200, found.text
    bundle = found.json()
    validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    episode = bundle["entry"][0]["resource"]
    validate(episode)
    assert episode["patient"]["identifier"] == {"system": FNR, "value": eva}
    assert episode["type"][0]["coding"][0]["code"] == "1"
    assert {
        "system": "http://hl7.no/fhir/ig/okt/CodeSystem/OktStayTypeCs",
        "code": "dagopphold",
    } in [c for t in episode["type"] for c in t["coding"]]
    assert episode["period"] == {"start": "2025-01-01", "end": "2025-12-31"}
    assert episode["status"] == "finished"  # 2025 has ended on the platform's clock
    assert {
        "url": "http://hl7.no/fhir/ig/okt/StructureDefinition/ServiceDescriptionMarkdown",
        "valueMarkdown": "Dette er en utfyllende beskrivelse av tjenesten",
    } in episode["extension"]
    ratio = next(e for e in episode["extension"] if e["url"].endswith("WeeklyExtentRatio"))
    assert ratio["valueRatio"]["numerator"]["value"] == 10


def test_on_hold_count_and_zero_padded_codes(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-onhold")
    paused = okt_episode(
        eva,
        id="GER-1",
        status="onhold",
        period={"start": "2024-01-01"},
        type=[{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9151", "code": "015"}]}],
    )
    active = okt_episode(eva, id="GER-2", period={"start": "2024-02-01"})
    written = platform.client.post(
        "/fhir/1804",
        json=transaction(paused, active),
        headers=fhir_headers(platform, "bodo-epj"),
    )
    assert written.status_code == 200, written.text
    counted = search(
        platform,
        "/1804/EpisodeOfCare/_search",
        **{"patient:identifier": f"{FNR}|{eva}", "_summary": "count", "status": "active"},
    )
    assert counted.json()["total"] == 1
    assert "entry" not in counted.json()
    everything = search(
        platform, "/EpisodeOfCare/_search", **{"patient:identifier": f"{FNR}|{eva}"}
    ).json()
    statuses = {
        e["resource"]["type"][0]["coding"][0]["code"]: e["resource"]["status"]
        for e in everything["entry"]
    }
    assert statuses == {"15": "onhold", "1": "active"}


def test_news2_observations_are_written_scored_and_found(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-news2")
    written = platform.client.post(
        "/fhir/1804", json=news2_bundle(eva, "m-1"), headers=fhir_headers(platform, "bodo-epj")
    )
    assert written.status_code == 200, written.text
    statuses = [e["response"]["status"] for e in written.json()["entry"]]
    assert statuses == ["201 Created"] * 6
    found = search(
        platform, "/Observation/_search", **{"patient:identifier": f"{FNR}|{eva}", "_sort": "-date"}
    )
    assert found.status_code == 200, found.text
    bundle = found.json()
    validate(bundle)
    assert bundle["total"] == 1
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match"] + ["include"] * 5
    score = bundle["entry"][0]["resource"]
    for entry in bundle["entry"]:
        validate(entry["resource"])
    assert score["code"]["coding"][0]["code"] == "1104051000000101"
    assert score["valueQuantity"]["value"] == 7
    sub = {
        c["code"]["coding"][0]["code"]: c.get("valueQuantity", {}).get("value")
        for c in score["component"]
    }
    assert sub["1104301000000104"] == 2  # respiration rate 22
    assert sub["1104351000000103"] == 2  # pulse 112
    assert len(score["hasMember"]) == 5
    vitals = search(
        platform,
        "/Observation/_search",
        **{"patient:identifier": f"{FNR}|{eva}", "code": "http://loinc.org|8867-4"},
    ).json()
    assert [e["resource"]["valueQuantity"]["value"] for e in vitals["entry"]] == [112]


def test_a_wrong_total_is_refused_with_its_expression(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-news2-wrong")
    bundle = news2_bundle(eva, "m-2")
    bundle["entry"][0]["resource"]["valueQuantity"]["value"] = 3
    refused = platform.client.post(
        "/fhir/1804", json=bundle, headers=fhir_headers(platform, "bodo-epj")
    )
    assert refused.status_code == 422
    outcome = refused.json()
    validate(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][1]["expression"] == ["Bundle.entry[0].resource.valueQuantity.value"]
    nothing = search(platform, "/Observation/_search", **{"patient:identifier": f"{FNR}|{eva}"})
    assert nothing.json()["total"] == 0


def test_conditional_put_and_delete(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-put")
    url = "/fhir/1804/EpisodeOfCare?identifier=urn:test:gerica|GER-9"
    headers = fhir_headers(platform, "bodo-epj")
    created = platform.client.put(url, json=okt_episode(eva), headers=headers)
    assert created.status_code == 201, created.text
    validate(created.json())
    again = platform.client.put(
        url, json=okt_episode(eva), headers={**headers, "Prefer": "return=OperationOutcome"}
    )
    assert again.status_code == 200
    assert again.json()["issue"][0]["diagnostics"].startswith("unchanged")
    form = {"patient:identifier": f"{FNR}|{eva}", "date": "ge2025-01-01"}
    found = search(platform, "/EpisodeOfCare/_search", **form).json()
    assert found["entry"][0]["resource"]["identifier"][0]["value"] == "GER-9"
    assert platform.client.delete(url, headers=headers).status_code == 204
    assert search(platform, "/EpisodeOfCare/_search", **form).json()["total"] == 0
    no_start = platform.client.put(url, json=okt_episode(eva, period={}), headers=headers)
    assert no_start.status_code == 422
    assert ["EpisodeOfCare.period.start"] in [i.get("expression") for i in no_start.json()["issue"]]
    gone = platform.client.delete(url, headers=headers)
    assert gone.status_code == 404
    assert gone.json()["resourceType"] == "OperationOutcome"


def test_the_same_rules_as_the_native_api(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="fhir-rules")
    headers = fhir_headers(platform, "bodo-epj")
    for person in (eva, bob):
        assert (
            platform.client.post(
                "/fhir/1804", json=news2_bundle(person, f"m-{person}"), headers=headers
            ).status_code
            == 200
        )
    # a consumer may not write, a source of another municipality neither: as natively
    for client in ("bodo-legevakt", "baerum-epj"):
        refused = platform.client.post(
            "/fhir/1804", json=news2_bundle(eva, "m-x"), headers=fhir_headers(platform, client)
        )
        assert refused.status_code == 403, refused.text
        validate(refused.json())
    # a source may not read
    assert (
        search(
            platform, "/Observation/_search", "bodo-epj", **{"patient:identifier": f"{FNR}|{eva}"}
        ).status_code
        == 403
    )
    # a restricted person's entry says so, and nothing else
    marked = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": bob, "restricted": True},
        headers=platform.headers("bodo-epj"),
    )
    assert marked.status_code == 200, marked.text
    both = search(
        platform, "/Observation/_search", **{"patient:identifier": f"{FNR}|{eva},{FNR}|{bob}"}
    ).json()
    validate(both)
    subjects = {
        e["resource"]["subject"]["identifier"]["value"]
        for e in both["entry"]
        if e["search"]["mode"] != "outcome"
    }
    assert subjects == {eva}
    outcome = [e for e in both["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    assert outcome[0]["resource"]["issue"][0]["code"] == "suppressed"
    # every access is in the municipality's audit log, as natively
    log = platform.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": bob},
        headers=platform.headers("bodo-drift"),
    ).json()["events"]
    assert ("read", "bodo-legevakt", "restricted") in {
        (e["action"], e["client_id"], e["outcome"]) for e in log
    }


def test_bad_searches_get_a_clear_outcome(platform: TestPlatform) -> None:
    unknown = search(platform, "/Observation/_search", **{"name": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["issue"][1]["expression"] == ["name"]
    bad_person = search(
        platform, "/Observation/_search", **{"patient:identifier": f"{FNR}|12345678901"}
    )
    assert bad_person.status_code == 422
    validate(bad_person.json())
    assert (
        search(
            platform, "/Procedure/_search", **{"patient:identifier": f"{FNR}|{people(1)[0]}"}
        ).status_code
        == 404
    )
    no_token = platform.client.post("/fhir/Observation/_search", data={}, headers=FORM)
    assert no_token.status_code == 401
    assert no_token.json()["resourceType"] == "OperationOutcome"


def test_the_middlewares_refusals_are_outcomes_too(platform: TestPlatform) -> None:
    too_large = platform.client.post(
        "/fhir/1804",
        content=b"{}",
        headers={**fhir_headers(platform, "bodo-epj"), "Content-Length": str(10**9)},
    )
    assert too_large.status_code == 413
    validate(too_large.json())
    assert too_large.json()["issue"][0]["code"] == "too-costly"
    native = platform.client.post(
        "/v1/tenants/1804/news2/records",
        content=b"{}",
        headers={**fhir_headers(platform, "bodo-epj"), "Content-Length": str(10**9)},
    )
    assert native.status_code == 413
    assert native.headers["content-type"].startswith("application/problem+json")


def test_what_a_transaction_may_hold(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-bundle-rules")
    headers = fhir_headers(platform, "bodo-epj")
    # two services' resources in one Bundle: all or nothing, the valid EpisodeOfCare is not
    # stored when the NEWS2 Observation (its vital signs missing) is refused
    mixed = transaction(okt_episode(eva), news2_bundle(eva, "m-mixed")["entry"][0]["resource"])
    refused = platform.client.post("/fhir/1804", json=mixed, headers=headers)
    assert refused.status_code == 422
    assert ["Bundle.entry[1].resource.hasMember"] in [
        i.get("expression") for i in refused.json()["issue"]
    ]
    episodes = search(platform, "/EpisodeOfCare/_search", **{"patient:identifier": f"{FNR}|{eva}"})
    assert episodes.json()["total"] == 0
    batch = {**transaction(okt_episode(eva)), "type": "batch"}
    assert platform.client.post("/fhir/1804", json=batch, headers=headers).status_code == 422
    deleting = transaction(okt_episode(eva))
    deleting["entry"][0]["request"]["method"] = "DELETE"
    refused = platform.client.post("/fhir/1804", json=deleting, headers=headers)
    assert refused.status_code == 422
    assert ["Bundle.entry[0].request"] in [i.get("expression") for i in refused.json()["issue"]]
    orphan = news2_bundle(eva, "m-orphan")
    orphan["entry"][0]["resource"]["hasMember"] = orphan["entry"][0]["resource"]["hasMember"][:4]
    refused = platform.client.post("/fhir/1804", json=orphan, headers=headers)
    assert refused.status_code == 422
    assert ["Bundle.entry[5].resource"] in [i.get("expression") for i in refused.json()["issue"]]
    assert (
        search(platform, "/Observation/_search", **{"patient:identifier": f"{FNR}|{eva}"}).json()[
            "total"
        ]
        == 0
    )


def test_count_date_and_sort(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-count")
    headers = fhir_headers(platform, "bodo-epj")
    for i, hours in enumerate((1, 5, 30)):
        written = platform.client.post(
            "/fhir/1804", json=news2_bundle(eva, f"m-{i}", hours_ago=hours), headers=headers
        )
        assert written.status_code == 200, written.text
    person = {"patient:identifier": f"{FNR}|{eva}"}
    newest = search(platform, "/Observation/_search", **person, _sort="-date", _count="1").json()
    assert newest["total"] == 3
    matches = [e for e in newest["entry"] if e["search"]["mode"] == "match"]
    assert [m["resource"]["identifier"][0]["value"] for m in matches] == ["m-0"]
    oldest = search(platform, "/Observation/_search", **person, _sort="date", _count="1").json()
    first = next(e for e in oldest["entry"] if e["search"]["mode"] == "match")
    assert first["resource"]["identifier"][0]["value"] == "m-2"
    since = (datetime.now(UTC) - timedelta(hours=10)).isoformat()
    recent = search(platform, "/Observation/_search", **person, date=f"ge{since}").json()
    assert recent["total"] == 2


def test_the_proto_example_with_its_organization_as_the_unit(platform: TestPlatform) -> None:
    # the OKT IG's EpisodeOfCare-OktEpisodeOfCare-Proto-19779998080-1 and the Organization it
    # names (Organization-org-1-1-2-6), narratives left out, the patient a synthetic person
    (eva,) = people(1, seed="fhir-proto")
    episode = {
        "resourceType": "EpisodeOfCare",
        "id": "OktEpisodeOfCare-Proto-19779998080-1",
        "meta": {"profile": ["http://hl7.no/fhir/ig/okt/StructureDefinition/OktEpisodeOfCare"]},
        "extension": [
            {
                "url": "http://hl7.no/fhir/ig/okt/StructureDefinition/WeeklyExtentRatio",
                "valueRatio": {
                    "numerator": {
                        "value": 15,
                        "unit": "h",
                        "system": "http://unitsofmeasure.org",
                        "code": "h",
                    },
                    "denominator": {
                        "value": 1,
                        "unit": "wk",
                        "system": "http://unitsofmeasure.org",
                        "code": "wk",
                    },
                },
            }
        ],
        "status": "active",
        "type": [
            {
                "coding": [
                    {
                        "system": "urn:oid:2.16.578.1.12.4.1.1.9151",
                        "code": "2",
                        "display": "Praktisk bistand - opplæring - daglige gjøremål",
                    }
                ]
            }
        ],
        "patient": {"identifier": {"system": FNR, "value": eva}},
        "managingOrganization": {"reference": "Organization/org-1-1-2-6"},
        "period": {"start": "2020-06-22"},
    }
    organization = {
        "resourceType": "Organization",
        "id": "org-1-1-2-6",
        "name": "Sone Vest, Kjeller",
        "partOf": {"reference": "Organization/org-1-1-2"},
        "contact": [{"telecom": [{"system": "phone", "value": "23101675"}]}],
    }
    bundle = transaction(episode, organization, urls=["EpisodeOfCare", "Organization"])
    written = platform.client.post(
        "/fhir/1804", json=bundle, headers=fhir_headers(platform, "bodo-epj")
    )
    assert written.status_code == 200, written.text
    statuses = [e["response"]["status"] for e in written.json()["entry"]]
    assert statuses == ["201 Created", "200 OK"]
    found = search(platform, "/EpisodeOfCare/_search", **{"patient:identifier": f"{FNR}|{eva}"})
    resource = found.json()["entry"][0]["resource"]
    validate(resource)
    assert resource["contained"][0]["name"] == "Sone Vest, Kjeller"
    assert resource["contained"][0]["telecom"] == [{"system": "phone", "value": "23101675"}]
    # the IG's WeeklyExtentRatio (units h and wk fixed by the IG) and IplosCs display come
    # back as the example has them
    assert [e for e in resource["extension"] if e["url"] != HOLDER_URL] == episode["extension"]
    assert resource["type"][0]["coding"][0] == {
        "system": "urn:oid:2.16.578.1.12.4.1.1.9151",
        "code": "2",
        "display": "Praktisk bistand - opplæring - daglige gjøremål",
    }
    alone = transaction(organization, urls=["Organization"])
    refused = platform.client.post(
        "/fhir/1804", json=alone, headers=fhir_headers(platform, "bodo-epj")
    )
    assert refused.status_code == 422


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": ""}, "empty string"),
        ({"type": []}, "empty array"),
        ({"period": {}}, "empty object"),
        ({"managingOrganization": None}, "null"),
        ({"status": "paused"}, "FHIR R4 JSON schema"),
        ({"period": {"start": "1. mai"}}, "FHIR R4 JSON schema"),
    ],
)
def test_the_independent_checks_refuse_what_fhir_refuses(change: dict[str, Any], why: str) -> None:
    episode = okt_episode("12345678901")
    check_fhir(episode)  # the IG's example is valid FHIR
    with pytest.raises(AssertionError, match=why):
        check_fhir({**episode, **change})


LOINC = "http://loinc.org"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
FHN = "urn:oid:2.16.578.1.12.4.1.4.3"


def test_spo2_is_coded_as_r4s_vital_signs_profile_requires_and_found_by_either_code(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="fhir-spo2")
    written = platform.client.post(
        "/fhir/1804", json=news2_bundle(eva, "m-spo2"), headers=fhir_headers(platform, "bodo-epj")
    )
    assert written.status_code == 200, written.text
    for code in ("2708-6", "59408-5"):
        found = search(
            platform,
            "/Observation/_search",
            **{"patient:identifier": f"{FNR}|{eva}", "code": f"{LOINC}|{code}"},
        ).json()
        assert [e["resource"]["valueQuantity"]["value"] for e in found["entry"]] == [94], code
        codings = found["entry"][0]["resource"]["code"]["coding"]
        assert [(c["system"], c["code"]) for c in codings] == [
            (LOINC, "2708-6"),
            (LOINC, "59408-5"),
        ]
    # a source that codes SpO2 2708-6 only is read as SpO2 too
    bundle = news2_bundle(eva, "m-spo2-vkp", hours_ago=2)
    spo2 = bundle["entry"][2]["resource"]
    spo2["code"]["coding"] = [{"system": LOINC, "code": "2708-6"}]
    again = platform.client.post(
        "/fhir/1804", json=bundle, headers=fhir_headers(platform, "bodo-epj")
    )
    assert again.status_code == 200, again.text
    found = search(
        platform,
        "/Observation/_search",
        **{"patient:identifier": f"{FNR}|{eva}", "code": f"{LOINC}|59408-5"},
    ).json()
    assert [e["resource"]["valueQuantity"]["value"] for e in found["entry"]] == [94, 94]


def _with_check_digits(first_nine: str) -> str:
    digits = [int(c) for c in first_nine]
    for weights in ((3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)):
        check = 11 - sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
        assert check != 10, "choose other digits"
        digits.append(0 if check == 11 else check)
    return "".join(map(str, digits))


def test_an_fh_nummer_names_a_person_and_each_system_fits_its_numbers(
    platform: TestPlatform,
) -> None:
    # an FH-nummer of made-up digits (FH-numbers encode no birth date; see test_identifiers)
    fh = _with_check_digits("812345678")
    dnr = synthetic_person_id(random.Random("fhir-dnr"), d_number=True)
    (eva,) = people(1, seed="fhir-systems")
    headers = fhir_headers(platform, "bodo-epj")
    for person, system in ((fh, FHN), (dnr, DNR)):
        episode = okt_episode(person, id=f"GER-{system[-1]}", period={"start": "2024-01-01"})
        episode["patient"] = {"identifier": {"system": system, "value": person}}
        written = platform.client.post("/fhir/1804", json=transaction(episode), headers=headers)
        assert written.status_code == 200, written.text
        found = search(
            platform, "/EpisodeOfCare/_search", **{"patient:identifier": f"{system}|{person}"}
        )
        assert found.status_code == 200, found.text
        (entry,) = found.json()["entry"]
        assert entry["resource"]["patient"]["identifier"] == {"system": system, "value": person}
    # a system that does not fit the number is refused, on writing and on searching
    for person, system in ((eva, DNR), (dnr, FNR), (fh, FNR), (eva, FHN)):
        episode = okt_episode(person, id="GER-X")
        episode["patient"] = {"identifier": {"system": system, "value": person}}
        refused = platform.client.post("/fhir/1804", json=transaction(episode), headers=headers)
        assert refused.status_code == 422, (system, refused.text)
        wrong = search(
            platform, "/EpisodeOfCare/_search", **{"patient:identifier": f"{system}|{person}"}
        )
        assert wrong.status_code == 400, system


def test_a_9151_code_is_searched_as_writes_store_it(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-code-padded")
    alarm = okt_episode(
        eva,
        id="GER-6",
        period={"start": "2024-01-01"},
        type=[{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9151", "code": "06"}]}],
    )
    written = platform.client.post(
        "/fhir/1804", json=transaction(alarm), headers=fhir_headers(platform, "bodo-epj")
    )
    assert written.status_code == 200, written.text
    person = {"patient:identifier": f"{FNR}|{eva}"}
    for code in ("urn:oid:2.16.578.1.12.4.1.1.9151|06", "urn:oid:2.16.578.1.12.4.1.1.9151|6", "06"):
        found = search(platform, "/EpisodeOfCare/_search", **person, code=code).json()
        assert found["total"] == 1, code
    for code in ("urn:oid:2.16.578.1.12.4.1.1.9151|15", "urn:oid:2.16.578.1.12.4.1.1.9151|016"):
        assert search(platform, "/EpisodeOfCare/_search", **person, code=code).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/fhir/1804/EpisodeOfCare", 405),  # create
        ("PATCH", "/fhir/1804/EpisodeOfCare", 405),
        ("PUT", "/fhir/1804/EpisodeOfCare/abc-1", 405),  # update by id
        ("DELETE", "/fhir/1804/Observation/abc-1", 405),  # delete by id
        ("POST", "/fhir/1804/Procedure", 404),  # a type this server does not serve
        ("POST", "/fhir/1804/EpisodeOfCare/abc-1/_history", 404),
    ],
)
def test_an_interaction_not_supported_on_a_served_type_is_405(
    platform: TestPlatform, method: str, path: str, status: int
) -> None:
    answer = platform.client.request(
        method,
        path,
        json={"resourceType": "EpisodeOfCare"},
        headers=fhir_headers(platform, "bodo-epj"),
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    if status == 405:
        assert "allow" in answer.headers
        assert method not in answer.headers["allow"].split(", ")


def test_metadata_at_every_base(platform: TestPlatform) -> None:
    everywhere = platform.client.get("/fhir/metadata")
    at_bodo = platform.client.get("/fhir/1804/metadata")
    assert at_bodo.status_code == 200, at_bodo.text
    assert at_bodo.json()["implementation"]["url"].endswith("/fhir/1804")
    assert at_bodo.json()["rest"] == everywhere.json()["rest"]
    assert platform.client.get("/fhir/9999/metadata").status_code == 404


def test_date_eq_is_r4s_contains_not_overlap(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="fhir-date-eq")
    month = okt_episode(eva, id="GER-M", period={"start": "2026-01-01", "end": "2026-01-31"})
    day = okt_episode(eva, id="GER-D", period={"start": "2026-01-15", "end": "2026-01-15"})
    ongoing = okt_episode(eva, id="GER-O", period={"start": "2026-01-15"})
    written = platform.client.post(
        "/fhir/1804",
        json=transaction(month, day, ongoing),
        headers=fhir_headers(platform, "bodo-epj"),
    )
    assert written.status_code == 200, written.text
    person = {"patient:identifier": f"{FNR}|{eva}"}

    def found(date: str) -> set[str]:
        bundle = search(platform, "/EpisodeOfCare/_search", **person, date=date).json()
        return {e["resource"]["identifier"][0]["value"] for e in bundle.get("entry", [])}

    # eq2026-01-15: only the service whose whole period lies within that day
    assert found("eq2026-01-15") == {"GER-D"}
    assert found("2026-01-15") == {"GER-D"}
    assert found("eq2026-01-14") == set()
    assert found("ne2026-01-15") == {"GER-M", "GER-O"}
    assert found("ge2026-01-15") == {"GER-M", "GER-D", "GER-O"}
