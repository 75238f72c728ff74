"""What issue 21 found a client could send the FHIR face (and the SSE stream) for a 5xx, and
the face's grammar decisions: each is a 4xx OperationOutcome now, or the answer FHIR's grammar
gives it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx2 as httpx
import pytest

from support import people, sample_record, tenant_document
from support.fhir import FNR, news2_bundle, okt_episode, transaction, validate
from support.live import open_events, served_platform
from support.platform import Backend, TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

FORM = "application/x-www-form-urlencoded"
EVA, BOB = people(2, seed="fhir-hostile")


def fhir_headers(platform: TestPlatform, client: str = "bodo-epj") -> dict[str, str]:
    return platform.headers(client, **{"Content-Type": "application/fhir+json"})


def search(platform: TestPlatform, form: str, *, media: str = FORM) -> httpx.Response:
    return platform.client.post(
        "/fhir/Observation/_search",
        content=form.encode(),
        headers=platform.headers("bodo-legevakt", **{"Content-Type": media}),
    )


def refused(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, response.text
    outcome: dict[str, Any] = response.json()
    validate(outcome)
    return outcome


def expressions(outcome: dict[str, Any]) -> list[str]:
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


PERSON = f"patient:identifier={FNR}|{EVA}"


@pytest.mark.parametrize("count", ["%C2%B2", "%D9%A3", "%EF%BC%93", "1" + "0" * 5000, "-1"])
def test_count_is_ascii_digits(platform: TestPlatform, count: str) -> None:
    """``²`` (``isdigit()`` is true, ``int()`` fails: a 500) and ``٣`` (taken as 3) are not
    FHIR's integer: refused."""
    outcome = refused(search(platform, f"{PERSON}&_count={count}"), 400)
    assert expressions(outcome) == ["_count"]
    assert search(platform, f"{PERSON}&_count=3").status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31",
        "ge9999-12-31",
        "le9999-12-31T23:59:59.999999-23:59",
        "gt9999-12-31T23:59:59.999999%2B00:00",
        "lt0001-01-01T00:00:00%2B14:00",
        "0001-01-01",
        "9999",
        "9999-12",
        "ne9999-12-31T23:59Z",
    ],
)
def test_extreme_dates_are_searched_not_a_server_error(platform: TestPlatform, value: str) -> None:
    answer = search(platform, f"{PERSON}&date={value}")
    assert answer.status_code == 200, answer.text
    validate(answer.json())


@pytest.mark.parametrize(
    "value",
    [
        "2026-W47-7",
        "2026-W47",
        "2026-326",
        "20261122",
        "2026-11-22T03:00:00",
        "2026-1-2",
        "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96",
        "2026-11-22T03:00:60Z",
        "2026-13",
        "0000",
    ],
)
def test_dates_follow_fhirs_grammar(platform: TestPlatform, value: str) -> None:
    """FHIR's date search values are YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with its offset:
    no ISO week or ordinal dates, no basic format, no other digits (Python's fromisoformat
    takes the first four)."""
    outcome = refused(search(platform, f"{PERSON}&date={value}"), 400)
    assert expressions(outcome) == ["date"]


def test_a_year_or_month_is_the_range_it_names(platform: TestPlatform) -> None:
    stored = platform.client.put(
        "/fhir/1804/EpisodeOfCare?identifier=urn:test|e-1",
        json=okt_episode(EVA),  # 2025-01-01 to 2025-12-31
        headers=fhir_headers(platform),
    )
    assert stored.status_code == 201, stored.text

    def total(date: str) -> int:
        answer = platform.client.post(
            "/fhir/EpisodeOfCare/_search",
            data={"patient:identifier": f"{FNR}|{EVA}", "date": date},
            headers=platform.headers("bodo-legevakt"),
        )
        assert answer.status_code == 200, answer.text
        found: int = answer.json()["total"]
        return found

    # eq (no prefix) is R4's "contains" (issue 23): the year holds the whole period, June not
    assert [total(d) for d in ("2025", "2024", "2026", "2025-06", "2026-01", "2024-12")] == [
        1,
        0,
        0,
        0,
        0,
        0,
    ]
    assert [total(d) for d in ("ge2025-06", "le2025-06", "ne2025-06")] == [1, 1, 1]
    assert [total(d) for d in ("ge2025-12", "gt2025", "lt2025-01", "le2025-01")] == [1, 0, 0, 1]


@pytest.mark.parametrize("parameter", ["5", "true", '"x"', '{"name": "code"}'])
def test_parameters_that_are_not_an_array_are_refused(
    platform: TestPlatform, parameter: str
) -> None:
    body = '{"resourceType": "Parameters", "parameter": ' + parameter + "}"
    outcome = refused(search(platform, body, media="application/fhir+json"), 422)
    assert expressions(outcome) == ["parameter"]


def test_a_parameters_body_is_read_by_the_one_json_reader(platform: TestPlatform) -> None:
    """A key twice (last wins in orjson) is refused as in every other body, naming the key."""
    body = (
        '{"resourceType": "Parameters", "parameter": [{"name": "patient:identifier", '
        f'"valueString": "{FNR}|{EVA}", "valueString": "{FNR}|{BOB}"}}]}}'
    )
    outcome = refused(search(platform, body, media="application/fhir+json"), 400)
    assert 'has the key "valueString" more than once' in [
        i["diagnostics"] for i in outcome["issue"]
    ]
    deep = '{"resourceType": "Parameters", "parameter": ' + "[" * 40 + "]" * 40 + "}"
    refused(search(platform, deep, media="application/fhir+json"), 400)
    single = (
        '{"resourceType": "Parameters", "parameter": [{"name": "patient:identifier", '
        f'"valueString": "{FNR}|{EVA}"}}]}}'
    )
    assert search(platform, single, media="application/fhir+json").status_code == 200
    boolean = (
        '{"resourceType": "Parameters", "parameter": [{"name": "patient:identifier", '
        f'"valueString": "{FNR}|{EVA}"}}, {{"name": "_count", "valueBoolean": true}}]}}'
    )
    refused(search(platform, boolean, media="application/fhir+json"), 422)


def put(platform: TestPlatform, resource_type: str, document: Any, query: str) -> httpx.Response:
    return platform.client.put(
        f"/fhir/1804/{resource_type}?{query}",
        content=json.dumps(document).encode(),
        headers=fhir_headers(platform),
    )


def news2_contained(person: str = EVA, member_subject: str | None = None) -> dict[str, Any]:
    """The NEWS2 Observation of :func:`news2_bundle` with its vital signs contained."""
    bundle = news2_bundle(person, "m-hostile")
    score: dict[str, Any] = bundle["entry"][0]["resource"]
    vitals = [e["resource"] for e in bundle["entry"][1:]]
    for i, vital in enumerate(vitals):
        vital["id"] = f"v{i}"
        if member_subject is not None:
            vital["subject"] = {"identifier": {"system": FNR, "value": member_subject}}
    score["contained"] = vitals
    score["hasMember"] = [{"reference": f"#v{i}"} for i in range(len(vitals))]
    return score


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``document`` with the member at ``path`` (dots; numbers index arrays) set to ``value``."""
    copied: dict[str, Any] = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = copied
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return copied


UNIT = {
    "resourceType": "Organization",
    "id": "unit-1",
    "name": "Sone Vest",
    "contact": [{"telecom": [{"system": "phone", "value": "23101675"}]}],
}


@pytest.mark.parametrize(
    ("path", "value", "expression"),
    [
        ("extension", 5, "EpisodeOfCare.extension"),
        ("meta", 5, "EpisodeOfCare.meta"),
        ("managingOrganization", 5, "EpisodeOfCare.managingOrganization"),
        ("extension.0", 5, "EpisodeOfCare.extension[0]"),
        ("extension.0.valueQuantity", 5, "EpisodeOfCare.extension[0].valueQuantity"),
        ("type", 5, "EpisodeOfCare.type"),
        ("type.0.coding", 5, "EpisodeOfCare.type[0].coding"),
        ("contained", 5, "EpisodeOfCare.contained"),
    ],
)
def test_an_episode_of_care_of_the_wrong_shape_is_refused(
    platform: TestPlatform, path: str, value: Any, expression: str
) -> None:
    document = changed(okt_episode(EVA), path, value)
    outcome = refused(put(platform, "EpisodeOfCare", document, "identifier=urn:test|e-2"), 422)
    assert expression in expressions(outcome)


@pytest.mark.parametrize(
    ("path", "value", "expression"),
    [
        ("contained", 5, "Observation.contained"),
        ("hasMember", 5, "Observation.hasMember"),
        ("component", 5, "Observation.component"),
        ("meta", 5, "Observation.meta"),
        ("performer", 5, "Observation.performer"),
        ("performer", [5], "Observation.performer[0]"),
        ("performer", [{"identifier": 5}], "Observation.performer[0].identifier"),
        ("component.0", 5, "Observation.component[0]"),
        ("component.0.code", {"coding": 5}, "Observation.component[0].code.coding"),
        ("contained.0.code", {"coding": 5}, "Observation.contained[0].code.coding"),
        ("contained.0.code", {"coding": [5]}, "Observation.contained[0].code.coding[0]"),
        ("code", {"coding": 5}, "Observation.code.coding"),
        ("note", 5, "Observation.note"),
        ("valueQuantity", 5, "Observation.valueQuantity"),
    ],
)
def test_a_news2_observation_of_the_wrong_shape_is_refused(
    platform: TestPlatform, path: str, value: Any, expression: str
) -> None:
    document = changed(news2_contained(), path, value)
    outcome = refused(put(platform, "Observation", document, "identifier=urn:test|m-2"), 422)
    assert expression in expressions(outcome)


def test_a_blood_pressure_panel_of_the_wrong_shape_is_refused(platform: TestPlatform) -> None:
    document = news2_contained()
    panel = document["contained"][2]
    panel["code"] = {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}
    for component, expression in [
        (5, "Observation.contained[2].component"),
        ([5], "Observation.contained[2].component[0]"),
        ([{"code": {"coding": 5}}], "Observation.contained[2].component[0].code.coding"),
    ]:
        panel["component"] = component
        outcome = refused(put(platform, "Observation", document, "identifier=urn:test|m-3"), 422)
        assert expression in expressions(outcome)


def test_a_vital_sign_in_a_bundle_of_the_wrong_shape_is_refused(platform: TestPlatform) -> None:
    bundle = news2_bundle(EVA, "m-4")
    bundle["entry"][1]["resource"]["code"] = {"coding": 5}
    outcome = refused(
        platform.client.post("/fhir/1804", json=bundle, headers=fhir_headers(platform)), 422
    )
    assert "Bundle.entry[1].resource.code.coding" in expressions(outcome)


def test_a_vital_sign_of_another_person_is_refused(platform: TestPlatform) -> None:
    """Issue 21 item 7: a member whose subject is someone else was stored as the first
    person's. A member with no subject is the NEWS2 Observation's (it is contained in it)."""
    outcome = refused(
        put(platform, "Observation", news2_contained(EVA, BOB), "identifier=urn:test|m-5"), 422
    )
    assert "Observation.hasMember[0]" in expressions(outcome)
    assert "another person" in json.dumps(outcome)
    bundle = news2_bundle(EVA, "m-6")
    bundle["entry"][3]["resource"]["subject"]["identifier"]["value"] = BOB
    outcome = refused(
        platform.client.post("/fhir/1804", json=bundle, headers=fhir_headers(platform)), 422
    )
    assert "Bundle.entry[0].resource.hasMember[2]" in expressions(outcome)
    same = put(platform, "Observation", news2_contained(EVA, EVA), "identifier=urn:test|m-7")
    assert same.status_code == 201, same.text
    unnamed = news2_contained(EVA)
    for vital in unnamed["contained"]:
        del vital["subject"]
    assert put(platform, "Observation", unnamed, "identifier=urn:test|m-8").status_code == 201


@pytest.mark.parametrize(
    ("organization", "expression"),
    [
        ({**UNIT, "contact": 5}, "Bundle.entry[1].resource.contact"),
        ({**UNIT, "contact": [{"telecom": 5}]}, "Bundle.entry[1].resource.contact[0].telecom"),
        ({**UNIT, "contact": [5]}, "Bundle.entry[1].resource.contact[0]"),
        ({**UNIT, "telecom": 5}, "Bundle.entry[1].resource.telecom"),
        ({**UNIT, "telecom": [5]}, "Bundle.entry[1].resource.telecom[0]"),
    ],
)
def test_an_organization_of_the_wrong_shape_is_refused(
    platform: TestPlatform, organization: dict[str, Any], expression: str
) -> None:
    episode = okt_episode(EVA, managingOrganization={"reference": "Organization/unit-1"})
    bundle = transaction(episode, organization, urls=["EpisodeOfCare", "Organization"])
    outcome = refused(
        platform.client.post("/fhir/1804", json=bundle, headers=fhir_headers(platform)), 422
    )
    assert expression in expressions(outcome)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_conditional_interaction_names_one_identifier(
    platform: TestPlatform, method: str
) -> None:
    """Two ``identifier`` parameters are two conditions (FHIR ANDs them), not "the last one":
    refused as a search that cannot be processed (400), as is any other parameter."""
    for query in (
        "identifier=urn:test|e-3&identifier=urn:test|e-4",
        "identifier=urn:test|e-3&status=active",
    ):
        answer = platform.client.request(
            method,
            f"/fhir/1804/EpisodeOfCare?{query}",
            content=json.dumps(okt_episode(EVA)).encode(),
            headers=fhir_headers(platform),
        )
        outcome = refused(answer, 400)
        [expression] = expressions(outcome)
        assert expression.rpartition(".")[2] == query.rpartition("&")[2].partition("=")[0]
    stored = put(platform, "EpisodeOfCare", okt_episode(EVA), "identifier=urn:test|e-4")
    assert stored.status_code == 201, stored.text


@pytest.fixture
def live(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    with served_platform(backend, tmp_path) as platform:
        platform.onboard(tenant_document("1804"))
        yield platform


@pytest.mark.parametrize("last_event_id", [b"\xb2-1", b"1-\xb9", b"\xb2\xb9", b"1\xb2-0"])
def test_a_last_event_id_with_other_digits_is_a_reset(
    live: TestPlatform, last_event_id: bytes
) -> None:
    """The bytes 0xB2 and 0xB9 are ``²`` and ``¹`` as a header is read (Latin-1): ``isdigit()``
    took them and ``int()`` failed, a 500. Not an id of this platform: a reset and a snapshot."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    stored = live.client.post(
        "/v1/tenants/1804/news2/records",
        json={"records": [sample_record("news2", "m-1", EVA, at=now.isoformat())]},
        headers=live.headers("bodo-epj"),
    )
    assert stored.status_code == 200, stored.text
    made = live.client.post(
        "/v1/news2/subscriptions",
        json={"patients": [EVA]},
        headers=live.headers("bodo-legevakt"),
    )
    assert made.status_code == 201, made.text
    headers: dict[str, Any] = {**live.headers("bodo-legevakt"), "Last-Event-ID": last_event_id}
    with open_events(live.client, made.json()["id"], cast(dict[str, str], headers)) as events:
        assert [e.event for e in events.take(2)] == ["reset", "snapshot"]
