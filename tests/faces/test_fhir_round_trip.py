"""The dataset round-trips (issue 23): the OKT IG's and VKP's published examples
(``tests/faces/examples``, with their source and licence) go in through the FHIR face and come
back through its search with nothing lost or changed except what docs/fhir.md lists under "What
a round trip changes". The list is read from the doc: a new loss fails the test, and so does a
listed one that no longer happens (the list stays exact)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from journalloft.faces.fhir.common import HOLDER_URL
from support import people
from support.fhir import FNR, SYNTHETIC_ORGNR, published, transaction, validate, vkp_news2_example
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

DOC = Path(__file__).parents[2] / "docs" / "fhir.md"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_INSTANT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$")


def listed_changes() -> set[str]:
    """The paths of docs/fhir.md's table "What a round trip changes" (its first column)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### What a round trip changes", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z.]+)` \|", section, flags=re.MULTILINE))


def listed_for(sent: dict[str, Any]) -> set[str]:
    """The listed changes of elements ``sent`` carries."""
    return {
        path
        for path in listed_changes()
        if carries(sent, path.split(".")[1:], path.split(".")[0] == sent["resourceType"])
    }


def carries(element: Any, keys: list[str], same_type: bool = True) -> bool:
    if not same_type:
        return False
    if not keys:
        return True
    if isinstance(element, list):
        return any(carries(item, keys) for item in element)
    return isinstance(element, dict) and keys[0] in element and carries(element[keys[0]], keys[1:])


def _same_instant(sent: Any, got: Any) -> bool:
    if not (isinstance(sent, str) and isinstance(got, str)):
        return False
    if not (_INSTANT.fullmatch(sent) and _INSTANT.fullmatch(got)):
        return False
    return datetime.fromisoformat(sent) == datetime.fromisoformat(got)


def differences(sent: Any, got: Any, path: str) -> set[str]:
    """Where ``got`` lost or changed an element of ``sent`` (paths without indices, as FHIRPath
    names an element). An element added is no difference; a repeating element's items are
    matched in any order (each sent item by a distinct item that has all of it); an instant is
    the same instant written with another offset."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return {path}
        found: set[str] = set()
        for key, value in sent.items():
            found |= (
                {f"{path}.{key}"}
                if key not in got
                else differences(value, got[key], f"{path}.{key}")
            )
        return found
    if isinstance(sent, list):
        if not isinstance(got, list):
            return {path}
        found = set()
        unused = list(got)
        for item in sent:
            match = next((g for g in unused if not differences(item, g, path)), None)
            if match is not None:
                unused.remove(match)
                continue
            # the nearest item (fewest differences) says what changed; none left: it was lost
            nearest = min(unused, key=lambda g: len(differences(item, g, path)), default=None)
            found |= {path} if nearest is None else differences(item, nearest, path)
            if nearest is not None:
                unused.remove(nearest)
        return found
    if sent == got or _same_instant(sent, got):
        return set()
    return {path}


def searched(platform: TestPlatform, kind: str, person: str) -> list[dict[str, Any]]:
    found = platform.client.post(
        f"/fhir/{kind}/_search",
        data={"patient:identifier": f"{FNR}|{person}"},
        headers=platform.headers("bodo-legevakt", **FORM),
    )
    assert found.status_code == 200, found.text
    return [e["resource"] for e in found.json()["entry"] if e["search"]["mode"] == "match"]


def round_trip_of(
    platform: TestPlatform, sent: dict[str, Any], person: str, *members: dict[str, Any]
) -> set[str]:
    kind = sent["resourceType"]
    written = platform.client.post(
        "/fhir/1804",
        json=transaction(sent, *members, urls=[kind, *(m["resourceType"] for m in members)]),
        headers=platform.headers("bodo-epj", **FHIR_JSON),
    )
    assert written.status_code == 200, written.text
    (got,) = searched(platform, kind, person)
    validate(got)
    return differences(sent, got, kind)


def test_the_vkp_news2_example_round_trips(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="round-trip-vkp")
    platform.set_now(
        datetime(2021, 11, 3, 12, tzinfo=UTC)
    )  # the example was measured the day before
    example = vkp_news2_example(eva)
    changed = round_trip_of(platform, example, eva)
    assert changed == listed_for(example)


@pytest.mark.parametrize(
    ("name", "member"),
    [
        ("okt-EpisodeOfCare-OktEpisodeOfCare1.json", None),
        (
            "okt-EpisodeOfCare-OktEpisodeOfCare-Proto-19779998080-1.json",
            "okt-Organization-org-1-1-2-6.json",
        ),
    ],
)
def test_the_okt_examples_round_trip(platform: TestPlatform, name: str, member: str | None) -> None:
    (eva,) = people(1, seed=f"round-trip-{name}")
    platform.set_now(datetime(2025, 6, 1, 12, tzinfo=UTC))  # while both services run
    example = published(name)
    example["patient"] = {"identifier": {"system": FNR, "value": eva}}
    members = [published(member)] if member else []
    changed = round_trip_of(platform, example, eva, *members)
    assert changed == listed_for(example)


def test_the_comparison_finds_a_loss_and_a_change() -> None:
    # the comparison itself: a dropped element, a changed one, a repeating item changed or lost
    sent = {"a": {"b": 1, "c": [{"d": "x"}, {"d": "y"}]}, "t": "2021-11-02T00:00:00+01:00"}
    assert differences(sent, copy.deepcopy(sent), "R") == set()
    assert differences(sent, {**sent, "t": "2021-11-01T23:00:00Z", "extra": 1}, "R") == set()
    assert differences(sent, {**sent, "t": "2021-11-01T23:00:01Z"}, "R") == {"R.t"}
    assert differences(sent, {"t": sent["t"]}, "R") == {"R.a"}
    reordered = {"a": {"b": 1, "c": [{"d": "y"}, {"d": "x", "e": 2}]}, "t": sent["t"]}
    assert differences(sent, reordered, "R") == set()
    assert differences(sent, {"a": {"b": 1, "c": [{"d": "x"}]}, "t": sent["t"]}, "R") == {"R.a.c"}
    assert differences(
        sent, {"a": {"b": 2, "c": [{"d": "x"}, {"d": "z"}]}, "t": sent["t"]}, "R"
    ) == {
        "R.a.b",
        "R.a.c.d",
    }


# --- the source's identifier is the record's identity (system and value) --------------------


def put(
    platform: TestPlatform, condition: str, resource: dict[str, Any], client: str = "bodo-epj"
) -> Any:
    return platform.client.put(
        f"/fhir/1804/Observation?identifier={condition}",
        json=resource,
        headers=platform.headers(client, **FHIR_JSON),
    )


def recent_vkp(person: str) -> dict[str, Any]:
    example = vkp_news2_example(person)
    example["effectiveDateTime"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    example["meta"]["lastUpdated"] = example["effectiveDateTime"]
    return example


def test_one_value_under_two_systems_is_two_records(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="two-systems")
    dips = "http://dips.no/fhir/namingsystem/externalId"
    other = "urn:oid:2.16.578.1.12.4.1.2.99"
    for system in (dips, other):
        written = put(platform, f"{system}|M-1", recent_vkp(eva))
        assert written.status_code == 201, written.text  # the second is not the first again
    found = searched(platform, "Observation", eva)
    assert sorted((o["identifier"][0]["system"], o["identifier"][0]["value"]) for o in found) == [
        (dips, "M-1"),
        (other, "M-1"),
    ]
    assert len({o["id"] for o in found}) == 2
    native = platform.client.post(
        "/v1/news2/query", json={"patients": [eva]}, headers=platform.headers("bodo-legevakt")
    ).json()["results"][0]["measurements"]
    assert sorted(m["id"] for m in native) == [f"{dips}|M-1", f"{other}|M-1"]
    # the resource's own identifier names the same record as the condition does
    again = platform.client.post(
        "/fhir/1804",
        json=transaction({**recent_vkp(eva), "identifier": [{"system": other, "value": "M-1"}]}),
        headers=platform.headers("bodo-epj", **FHIR_JSON),
    )
    assert again.json()["entry"][0]["response"]["status"] == "200 OK"
    # withdrawing one leaves the other
    gone = platform.client.delete(
        f"/fhir/1804/Observation?identifier={dips}|M-1", headers=platform.headers("bodo-epj")
    )
    assert gone.status_code == 204
    (left,) = searched(platform, "Observation", eva)
    assert left["identifier"] == [{"system": other, "value": "M-1"}]


def test_an_id_without_a_system_keeps_the_platforms_system(platform: TestPlatform) -> None:
    # a native record, and a FHIR one sent without a system (or as the platform answers it)
    (eva,) = people(1, seed="no-system")
    written = put(platform, "M-2", recent_vkp(eva))
    assert written.status_code == 201, written.text
    (found,) = searched(platform, "Observation", eva)
    assert found["identifier"] == [{"system": "urn:journalloft:source-record-id", "value": "M-2"}]
    posted_back = put(platform, "urn:journalloft:source-record-id|M-2", recent_vkp(eva))
    assert posted_back.status_code == 200  # the same record
    no_system = put(platform, "|M-2", recent_vkp(eva))
    assert no_system.status_code == 200


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        ("not a uri|M-3", "absolute URI"),
        ("urn:x y|M-3", "absolute URI"),
        ("relative/path|M-3", "absolute URI"),
        ("urn:x:" + "a" * 120 + "|M-3", "at most 128"),
    ],
)
def test_an_identifier_system_must_be_a_uri_and_the_id_bounded(
    platform: TestPlatform, condition: str, why: str
) -> None:
    (eva,) = people(1, seed="bad-system")
    refused = put(platform, condition.replace(" ", "%20"), recent_vkp(eva))
    assert refused.status_code == 400, refused.text
    assert why in refused.text
    in_body = recent_vkp(eva)
    system, _bar, value = condition.partition("|")
    in_body["identifier"] = [{"system": system, "value": value}]
    bundle = platform.client.post(
        "/fhir/1804", json=transaction(in_body), headers=platform.headers("bodo-epj", **FHIR_JSON)
    )
    assert bundle.status_code == 422, bundle.text
    assert why in bundle.text
    assert searched_nothing(platform, eva)


def test_the_longest_id_is_kept(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="long-system")
    system = "urn:x:" + "a" * (128 - len("urn:x:") - len("|M-4"))
    assert put(platform, f"{system}|M-4", recent_vkp(eva)).status_code == 201
    (found,) = searched(platform, "Observation", eva)
    assert found["identifier"] == [{"system": system, "value": "M-4"}]


def test_a_value_without_a_system_that_reads_as_one_is_refused(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="reads-as-system")
    sent = recent_vkp(eva)
    sent["identifier"] = [{"value": "urn:x|M-5"}]
    refused = platform.client.post(
        "/fhir/1804", json=transaction(sent), headers=platform.headers("bodo-epj", **FHIR_JSON)
    )
    assert refused.status_code == 422, refused.text
    assert "must not read as system|value" in refused.text


def searched_nothing(platform: TestPlatform, person: str) -> bool:
    found = platform.client.post(
        "/fhir/Observation/_search",
        data={"patient:identifier": f"{FNR}|{person}"},
        headers=platform.headers("bodo-legevakt", **FORM),
    )
    return bool(found.json()["total"] == 0)


# --- every resource answered says which municipality holds it -------------------------------


def test_every_resource_says_which_municipality_holds_it(platform: TestPlatform) -> None:
    from support import tenant_document

    shared = [{"client_id": "bodo-legevakt", "name": "Legevakt", "services": ["news2"]}]
    platform.onboard(tenant_document("5501", extra_consumers=shared))
    (eva,) = people(1, seed="holder")
    for kommune, client in (("1804", "bodo-epj"), ("5501", "k5501-epj")):
        from support.fhir import news2_bundle

        written = platform.client.post(
            f"/fhir/{kommune}",
            json=news2_bundle(eva, f"m-{kommune}"),
            headers=platform.headers(client, **FHIR_JSON),
        )
        assert written.status_code == 200, written.text
    found = platform.client.post(
        "/fhir/Observation/_search",
        data={"patient:identifier": f"{FNR}|{eva}"},
        headers=platform.headers("bodo-legevakt", **FORM),
    ).json()
    resources = [e["resource"] for e in found["entry"] if e["search"]["mode"] != "outcome"]
    assert len(resources) == 12  # two NEWS2 Observations, five vital signs each
    holders: dict[str, dict[str, Any]] = {}
    for resource in resources:
        (holder,) = [e for e in resource["extension"] if e["url"] == HOLDER_URL]
        parts = {p["url"]: p for p in holder["extension"]}
        holders[resource["id"]] = parts
        assert parts["municipality"]["valueCoding"]["system"] == "urn:oid:2.16.578.1.12.4.1.1.3402"
        assert parts["organization"]["valueReference"]["identifier"]["system"] == (
            "urn:oid:2.16.578.1.12.4.1.4.101"
        )
    named = {
        (
            p["municipality"]["valueCoding"]["code"],
            p["organization"]["valueReference"]["identifier"]["value"],
            p["organization"]["valueReference"]["display"],
        )
        for p in holders.values()
    }
    assert named == {
        ("1804", "972418013", "Bodø kommune"),
        ("5501", "974760673", "Testkommune 5501"),
    }


# --- what VKP's example carries is kept, checked and served natively too --------------------


def test_the_vkp_provenance_is_served_natively(platform: TestPlatform) -> None:
    eva, kari = people(2, seed="vkp-provenance")
    sent = recent_vkp(eva)
    sent["performer"][0]["identifier"]["value"] = kari
    assert put(platform, "urn:x|P-1", sent).status_code == 201
    native = platform.client.post(
        "/v1/news2/query", json={"patients": [eva]}, headers=platform.headers("bodo-legevakt")
    ).json()["results"][0]["latest"]
    assert native["recorded_by"] == {"name": None, "hpr": None, "national_id": kari}
    assert native["data_controller"] == {"orgnr": SYNTHETIC_ORGNR, "name": None}
    assert native["source_system"] == "MEDANETS"
    assert native["interpretations"]["pulse"] == "≤40"
    assert len(native["interpretations"]) == 7


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (
            lambda r: r["performer"][0]["identifier"].update(
                system="urn:oid:1.3.6.1.4.1.9038.70.3"
            ),
            "Observation.performer[0].identifier.system",
        ),
        (
            lambda r: r["performer"][1]["identifier"].update(value="12345678"),
            "Observation.performer",
        ),
        (
            lambda r: r["performer"].append(copy.deepcopy(r["performer"][1])),
            "Observation.performer[2]",
        ),
        (
            lambda r: r["performer"].append({"reference": "Practitioner/1"}),
            "Observation.performer[2]",
        ),
        (
            lambda r: r["performer"][0]["identifier"].update(system=["urn:x"]),
            "Observation.performer[0].identifier.system",
        ),
        (lambda r: r["meta"].update(source="MEDANETS 2"), "Observation.meta.source"),
        (
            lambda r: r["component"][0]["interpretation"][0].update(text="x" * 101),
            "Observation.component",
        ),
    ],
)
def test_what_cannot_be_kept_faithfully_is_refused(
    platform: TestPlatform, change: Any, expression: str
) -> None:
    (eva,) = people(1, seed=f"vkp-refused-{expression}")
    sent = recent_vkp(eva)
    change(sent)
    refused = put(platform, "urn:x|P-2", sent)
    assert refused.status_code == 422, refused.text
    assert [expression] in [i.get("expression") for i in refused.json()["issue"]]
    assert searched_nothing(platform, eva)


def test_an_identifier_value_that_is_no_string_is_refused(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="vkp-number-id")
    sent = recent_vkp(eva)
    sent["identifier"] = [{"system": "urn:x", "value": 5}]
    refused = platform.client.post(
        "/fhir/1804", json=transaction(sent), headers=platform.headers("bodo-epj", **FHIR_JSON)
    )
    assert refused.status_code == 422, refused.text
    expressions = [i.get("expression") for i in refused.json()["issue"]]
    assert ["Bundle.entry[0].resource.identifier[0].value"] in expressions
    assert searched_nothing(platform, eva)
