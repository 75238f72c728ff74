"""NHN's OKT prototype API: the hackathon IG's example accepted as it is (its person aside),
snapshots per person and source, the same rules as the native API, the person kept out of the
logs."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from journalloft.faces.fhir.common import HOLDER_URL
from support import people, tenant_document
from support.platform import TestPlatform
from support.security import dpop_headers, dpop_token

# the OKT IG's example OktEvent (Binary-OktEvent1), as published; the test gives it a
# synthetic person instead of its personIdentifier
OKT_EVENT: dict[str, Any] = {
    "resourceType": "http://hl7.no/fhir/ig/okt/StructureDefinition/OktEvent",
    "oktMessages": [
        {
            "iplosCode": {
                "iplosCodeLevel": "1",
                "iplosCodeValue": "02",
                "iplosParentCode": "0",
                "iplosCodeDescription": "Praktisk bistand - opplæring - daglige gjøremål",
            },
            "startDate": "2025-09-01",
            "endDate": "2025-09-30",
            "needsCaption": True,
            "serviceDescription": "Hjemmetjeneste - praktisk bistand",
            "serviceLevel": "Nivå 2",
            "stayType": "korttidsopphold",
            "temporaryCessation": False,
            "weeklyExtent": "7.5",
        }
    ],
    "personIdentifier": "19779998080",
}


# NHN's published answer for one of its synthetic test persons (tests/faces/examples/README.md)
NHN_ANSWER: dict[str, Any] = json.loads(
    (Path(__file__).parent / "examples" / "nhn-okt-hackathon-2025-22750884907.json").read_text(
        encoding="utf-8"
    )
)
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")


def event(person: str, *messages: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(OKT_EVENT)
    document.pop("resourceType")  # NHN's prototype sends the model without it; both are taken
    document["personIdentifier"] = person
    if messages:
        document["oktMessages"] = list(messages)
    return document


def message(code: str, start: str, **more: Any) -> dict[str, Any]:
    return {"iplosCode": {"iplosCodeValue": code}, "startDate": start, **more}


def test_the_ig_example_is_accepted_and_read_back(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="okt-example")
    example = copy.deepcopy(OKT_EVENT)
    example["personIdentifier"] = eva
    posted = platform.client.post(
        "/okt/okt-events", json=example, headers=platform.headers("bodo-epj")
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["created"] == 1
    assert posted.json()["kommunenummer"] == "1804"
    # the service ended 2025-09-30: older than the default window, so the board sees it
    # natively only with include_ended; the OKT answer is the native default
    read = platform.client.get(
        "/okt/okt-events", headers=platform.headers("bodo-legevakt", **{"person-id": eva})
    )
    assert read.status_code == 200, read.text
    assert read.json() == {"personIdentifier": eva, "oktMessages": []}


def test_a_snapshot_replaces_the_sources_list(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="okt-snapshot")
    headers = platform.headers("bodo-epj")
    first = event(
        eva,
        message("15", "2024-01-01", weeklyExtent="14 besøk"),
        message("06", "2023-05-01"),
        message("21", "2024-03-01", temporaryCessation=True, stayType="korttidsopphold"),
    )
    assert platform.client.post("/okt/okt-events", json=first, headers=headers).status_code == 200
    path = f"/okt/okt-events/{eva}"
    board = platform.headers("bodo-legevakt")
    got = platform.client.get(path, headers=board).json()
    codes = {m["iplosCode"]["iplosCodeValue"]: m for m in got["oktMessages"]}
    assert set(codes) == {"15", "06", "21"}
    assert codes["06"]["iplosCode"]["iplosCodeDescription"] == "Trygghetsalarm"
    assert codes["21"]["temporaryCessation"] is True
    status = platform.client.get(f"/okt/okt-status/{eva}", headers=board).json()
    assert status == {"personIdentifier": eva, "oktStatus": 2}  # 21 is paused

    second = event(eva, message("15", "2024-01-01", weeklyExtent="14 besøk"))
    posted = platform.client.post("/okt/okt-events", json=second, headers=headers).json()
    assert posted["withdrawn"] == 2
    got = platform.client.get(path, headers=board).json()
    assert [m["iplosCode"]["iplosCodeValue"] for m in got["oktMessages"]] == ["15"]
    emptied = platform.client.post("/okt/okt-events", json=event(eva), headers=headers)
    assert emptied.status_code == 200
    none = platform.client.post(
        "/okt/okt-events", json={"personIdentifier": eva, "oktMessages": []}, headers=headers
    ).json()
    assert none["withdrawn"] == 1
    assert platform.client.get(f"/okt/okt-status/{eva}", headers=board).json()["oktStatus"] == 0


def test_the_same_rules_as_the_native_api(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="okt-rules")
    # a consumer may not post; a source may not read
    refused = platform.client.post(
        "/okt/okt-events",
        json=event(eva, message("15", "2024-01-01")),
        headers=platform.headers("bodo-legevakt"),
    )
    assert refused.status_code == 403
    assert (
        platform.client.get(
            f"/okt/okt-status/{eva}", headers=platform.headers("bodo-epj")
        ).status_code
        == 403
    )
    # bad input: every error at its place in the OktEvent, nothing stored
    bad = platform.client.post(
        "/okt/okt-events",
        json=event(
            eva,
            message("15", "2024-01-01"),
            message("10", "2024-01-01"),
            message("15", "2024-13-01"),
        ),
        headers=platform.headers("bodo-epj"),
    )
    assert bad.status_code == 422
    pointers = {e["pointer"] for e in bad.json()["errors"]}
    assert "/oktMessages/1/iplosCode/iplosCodeValue" in pointers
    assert "/oktMessages/2/startDate" in pointers
    assert (
        platform.client.get(
            f"/okt/okt-status/{eva}", headers=platform.headers("bodo-legevakt")
        ).json()["oktStatus"]
        == 0
    )
    # restricted: no services, and the answer says where
    platform.client.post(
        "/okt/okt-events",
        json=event(bob, message("15", "2024-01-01")),
        headers=platform.headers("bodo-epj"),
    )
    marked = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": bob, "restricted": True},
        headers=platform.headers("bodo-epj"),
    )
    assert marked.status_code == 200
    answer = platform.client.get(
        f"/okt/okt-events/{bob}", headers=platform.headers("bodo-legevakt")
    ).json()
    assert answer == {"personIdentifier": bob, "oktMessages": [], "restrictedIn": ["1804"]}
    log = platform.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": bob},
        headers=platform.headers("bodo-drift"),
    ).json()["events"]
    assert ("read", "bodo-legevakt", "restricted") in {
        (e["action"], e["client_id"], e["outcome"]) for e in log
    }


def test_a_source_of_several_municipalities_names_one(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="okt-several")
    document = tenant_document("1804")
    document["sources"].append(
        {"client_id": "baerum-epj", "name": "Bærum's EPJ", "services": ["kommunale-tjenester"]}
    )
    platform.onboard(document)
    body = event(eva, message("15", "2024-01-01"))
    unnamed = platform.client.post(
        "/okt/okt-events", json=body, headers=platform.headers("baerum-epj")
    )
    assert unnamed.status_code == 400
    named = platform.client.post(
        "/okt/okt-events", json=body, headers=platform.headers("baerum-epj", kommunenummer="1804")
    )
    assert named.status_code == 200, named.text
    assert named.json()["kommunenummer"] == "1804"


def test_the_person_in_the_path_stays_out_of_the_logs(
    platform: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    (eva,) = people(1, seed="okt-logs")
    with caplog.at_level(logging.DEBUG):
        platform.client.get(f"/okt/okt-status/{eva}", headers=platform.headers("bodo-legevakt"))
        platform.client.get(f"/okt/okt-events/{eva}", headers=platform.headers("bodo-legevakt"))
        platform.client.get(f"/fhir/Patient/{eva}", headers=platform.headers("bodo-legevakt"))
    # the platform's own log (the access log names route templates); the test client's own
    # request log (httpx) is the client's, not the server's
    served = [r for r in caplog.records if r.name.startswith(("journalloft", "uvicorn"))]
    assert any(r.name == "journalloft.access" for r in served)
    leaks = [f"{r.name}: {r.getMessage()}" for r in served if eva in r.getMessage()]
    assert leaks == []


def test_production_can_turn_the_path_form_off(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="okt-off")
    settings = platform.runtime.settings
    settings.okt_person_in_path = False
    try:
        off = platform.client.get(
            f"/okt/okt-status/{eva}", headers=platform.headers("bodo-legevakt")
        )
        assert off.status_code == 404
        header = platform.client.get(
            "/okt/okt-status", headers=platform.headers("bodo-legevakt", **{"person-id": eva})
        )
        assert header.status_code == 200
    finally:
        settings.okt_person_in_path = True


def test_a_municipality_that_did_not_answer_is_named_on_every_okt_route(
    platform: TestPlatform,
) -> None:
    """Before: a Bearer caller whose person's only service is in a municipality that requires
    DPoP got ``oktStatus: 0`` and no messages, with no sign that one municipality was not asked."""
    eva, bob = people(2, seed="okt-refused")
    shared = [{"client_id": "ikl-legevakt", "name": "IKL", "services": ["kommunale-tjenester"]}]
    platform.onboard(tenant_document("1804", extra_consumers=shared))
    platform.onboard(tenant_document("5501", policy={"require_dpop": True}, extra_consumers=shared))
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "k5501-epj", key)
    path = "/okt/okt-events"
    for person in (eva, bob):
        pushed = platform.client.post(
            path,
            json=event(person, message("15", "2024-01-01")),
            headers=dpop_headers(token, key, "POST", path),
        )
        assert pushed.status_code == 200, pushed.text
    pushed = platform.client.post(
        path, json=event(bob, message("06", "2024-01-01")), headers=platform.headers("bodo-epj")
    )
    assert pushed.status_code == 200, pushed.text

    def read(route: str, person: str) -> Any:
        headers = platform.headers("ikl-legevakt")
        if route.endswith("/"):
            response = platform.client.get(route + person, headers=headers)
        else:
            response = platform.client.get(route, headers={**headers, "person-id": person})
        assert response.status_code == 200, response.text
        return response.json()

    for route in ("/okt/okt-status/", "/okt/okt-status"):
        answer = read(route, eva)
        assert answer["oktStatus"] == -1, route  # unknown, not "nothing known"
        [refused] = answer["refused"]
        assert refused["kommunenummer"] == "5501"
        assert "DPoP" in refused["reason"]
        # what the others answered still counts; the refusal is named beside it
        answer = read(route, bob)
        assert answer["oktStatus"] == 1, route
        assert [r["kommunenummer"] for r in answer["refused"]] == ["5501"]
    for route in ("/okt/okt-events/", "/okt/okt-events"):
        answer = read(route, eva)
        assert answer["oktMessages"] == []
        assert [r["kommunenummer"] for r in answer["refused"]] == ["5501"]
        assert "DPoP" in answer["refused"][0]["reason"]
        answer = read(route, bob)
        assert len(answer["oktMessages"]) == 1
        assert [r["kommunenummer"] for r in answer["refused"]] == ["5501"]
    # a caller that every municipality answers gets neither the field nor -1
    dpop = dpop_token(platform, "ikl-legevakt", key)
    for person, count in ((eva, 1), (bob, 2)):
        status = platform.client.get(
            "/okt/okt-status",
            headers={**dpop_headers(dpop, key, "GET", "/okt/okt-status"), "person-id": person},
        )
        assert status.status_code == 200, status.text
        assert status.json() == {"personIdentifier": person, "oktStatus": count}


def _by_code(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["iplosCode"]["iplosCodeValue"]: m for m in messages}


def test_nhns_published_answer_posted_back_unchanged_comes_back_in_its_shape(
    platform: TestPlatform,
) -> None:
    posted = platform.client.post(
        "/okt/okt-events", json=NHN_ANSWER, headers=platform.headers("bodo-epj")
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["created"] == 3
    person = NHN_ANSWER["personIdentifier"]
    read = platform.client.get(
        "/okt/okt-events", headers=platform.headers("bodo-legevakt", **{"person-id": person})
    )
    assert read.status_code == 200, read.text
    got = _by_code(read.json()["oktMessages"])
    sent = _by_code(NHN_ANSWER["oktMessages"])
    assert set(got) == set(sent)
    for code, message in sent.items():
        answer = got[code]
        # every field NHN sends is answered (needsCaption aside: not kept, docs/okt.md), and
        # the municipality that holds the message
        assert set(answer) == set(message) - {"needsCaption"} | {"kommunenummer"}
        assert answer["kommunenummer"] == "1804"
        for field in set(message) - {"needsCaption", "iplosCode"}:
            assert answer[field] == message[field], (code, field)
        # the code's level, parent and display from the IPLOS code system (the IG's IplosCs)
        assert answer["iplosCode"]["iplosCodeLevel"] == "1"
        assert answer["iplosCode"]["iplosParentCode"] == "0"
    assert got["01"]["iplosCode"]["iplosCodeDescription"] == "Praktisk bistand - daglige gjøremål"
    assert got["06"]["iplosCode"]["iplosCodeDescription"] == "Trygghetsalarm"
    assert got["06"]["weeklyExtent"] == ""  # absent, answered as NHN does

    # the empty weeklyExtent was not stored: FHIR has no empty valueString for it
    bundle = platform.client.post(
        "/fhir/EpisodeOfCare/_search",
        data={"patient:identifier": f"{FNR}|{person}"},
        headers=platform.headers(
            "bodo-legevakt", **{"Content-Type": "application/x-www-form-urlencoded"}
        ),
    )
    assert bundle.status_code == 200, bundle.text
    episodes = {
        e["resource"]["type"][0]["coding"][0]["code"]: e["resource"] for e in bundle.json()["entry"]
    }
    assert set(episodes) == {"1", "5", "6"}
    assert [e["url"] for e in episodes["6"]["extension"]] == [HOLDER_URL]
    assert episodes["5"]["extension"][:1] == [
        {
            "url": "https://journalloft.no/fhir/StructureDefinition/weekly-extent-text",
            "valueString": "15 minutter",
        }
    ]
    # serviceLevel is the unit that delivers the service
    assert episodes["1"]["managingOrganization"]["display"] == sent["01"]["serviceLevel"]


def test_a_blank_field_is_the_same_as_an_absent_one(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="okt-blank")
    headers = platform.headers("bodo-epj")
    blank = message("15", "2024-01-01", endDate="", stayType="", weeklyExtent=" ", serviceLevel="")
    first = platform.client.post("/okt/okt-events", json=event(eva, blank), headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1
    again = platform.client.post(
        "/okt/okt-events", json=event(eva, message("15", "2024-01-01")), headers=headers
    )
    assert again.json()["created"] == 0
    assert again.json()["withdrawn"] == 0
    got = platform.client.get(f"/okt/okt-events/{eva}", headers=platform.headers("bodo-legevakt"))
    (answer,) = got.json()["oktMessages"]
    assert answer["endDate"] == answer["stayType"] == answer["weeklyExtent"] == ""
    assert answer["serviceLevel"] == ""
    # a value that is not blank is a different message, and is kept
    changed = platform.client.post(
        "/okt/okt-events",
        json=event(eva, message("15", "2024-01-01", weeklyExtent="7", serviceLevel="Sone nord")),
        headers=headers,
    )
    assert changed.json()["created"] == 1
    assert changed.json()["withdrawn"] == 1
    got = platform.client.get(f"/okt/okt-events/{eva}", headers=platform.headers("bodo-legevakt"))
    (answer,) = got.json()["oktMessages"]
    assert (answer["weeklyExtent"], answer["serviceLevel"]) == ("7", "Sone nord")
