"""NEWS2 scored by the source (the VKP profile's own example sends sub-scores only): checked,
stored marked as the source's, and said so in every answer."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from support import people
from support.fhir import FNR, transaction, validate, vkp_news2_example
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")


def post(platform: TestPlatform, bundle: dict[str, object]) -> object:
    return platform.client.post(
        "/fhir/1804",
        json=bundle,
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )


def test_the_vkp_example_is_accepted_as_published(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="vkp-example")
    example = vkp_news2_example(eva)
    validate(example)
    written = platform.client.put(
        "/fhir/1804/Observation?identifier=http://dips.no/fhir/namingsystem/externalId|"
        "External Id: testNEWS2",
        json=example,
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert written.status_code == 201, written.text
    in_bundle = platform.client.post(
        "/fhir/1804",
        json=transaction(vkp_news2_example(eva)),
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert in_bundle.status_code == 200, in_bundle.text
    assert in_bundle.json()["entry"][0]["response"]["status"] == "200 OK"  # the same record


def test_a_source_score_is_marked_in_every_answer(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="vkp-recent")
    example = vkp_news2_example(eva)
    example["effectiveDateTime"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    example["meta"]["lastUpdated"] = example["effectiveDateTime"]
    written = platform.client.post(
        "/fhir/1804",
        json=transaction(example),
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert written.status_code == 200, written.text
    native = platform.client.post(
        "/v1/news2/query", json={"patients": [eva]}, headers=platform.headers("bodo-legevakt")
    ).json()["results"][0]["latest"]
    assert native["score"]["scored_by"] == "source"
    assert native["score"]["total"] == 20
    assert native["score"]["parameters"]["air_or_oxygen"] == 2
    assert native["spo2_scale"] == 2
    assert native["pulse"] is None
    found = platform.client.post(
        "/fhir/Observation/_search",
        data={"patient:identifier": f"{FNR}|{eva}"},
        headers=platform.headers("bodo-legevakt"),
    ).json()
    validate(found)
    observation = found["entry"][0]["resource"]
    assert observation["extension"][0]["valueCode"] == "source"
    assert observation["interpretation"][0]["text"].startswith("scored by the source")
    assert observation["valueQuantity"]["value"] == 20
    assert "hasMember" not in observation


def test_impossible_or_disagreeing_sub_scores_are_refused(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="vkp-wrong")
    wrong_sum = vkp_news2_example(eva)
    wrong_sum["valueQuantity"]["value"] = 19
    refused = platform.client.post(
        "/fhir/1804",
        json=transaction(wrong_sum),
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert refused.status_code == 422
    assert refused.json()["issue"][1]["expression"] == [
        "Bundle.entry[0].resource.valueQuantity.value"
    ]
    impossible = copy.deepcopy(vkp_news2_example(eva))
    impossible["component"][2]["valueQuantity"]["value"] = 1  # air or oxygen scores 0 or 2
    impossible["valueQuantity"]["value"] = 19
    refused = platform.client.post(
        "/fhir/1804",
        json=transaction(impossible),
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert refused.status_code == 422
    assert "not a possible air_or_oxygen score" in refused.text
