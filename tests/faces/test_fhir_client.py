"""A real FHIR client library (fhirpy) against the served app: a write and a search of each
resource, a conditional update and delete."""

from __future__ import annotations

from typing import Any

import pytest
from fhirpy import SyncFHIRClient

from support import people
from support.fhir import (
    FNR,
    news2_bundle,
    okt_episode,
    served,
    served_token,
    transaction,
    validate,
)
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")


def parameters(**values: str) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": k, "valueString": v} for k, v in values.items()],
    }


def test_fhirpy_writes_and_searches_both_services(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="fhirpy")
    with served(platform) as url:
        source = f"Bearer {served_token(platform, url, 'bodo-epj')}"
        reader = f"Bearer {served_token(platform, url, 'bodo-legevakt')}"
        writer = SyncFHIRClient(f"{url}/fhir/1804", authorization=source)
        board = SyncFHIRClient(f"{url}/fhir", authorization=reader)

        answer = writer.execute("", method="post", data=transaction(okt_episode(eva)))
        assert answer["entry"][0]["response"]["status"] == "201 Created"
        answer = writer.execute("", method="post", data=news2_bundle(bob, "m-fhirpy"))
        assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 6

        found = board.execute(
            "EpisodeOfCare/_search",
            method="post",
            data=parameters(**{"patient:identifier": f"{FNR}|{eva}", "date": "ge2025-01-01"}),
        )
        validate(dict(found))
        assert found["total"] == 1
        assert found["entry"][0]["resource"]["patient"]["identifier"]["value"] == eva

        observations = board.execute(
            "Observation/_search",
            method="post",
            data=parameters(**{"patient:identifier": f"{FNR}|{bob}", "_sort": "-date"}),
        )
        validate(dict(observations))
        assert observations["entry"][0]["resource"]["valueQuantity"]["value"] == 7

        # conditional update and delete, as the library makes them
        episodes = writer.resources("EpisodeOfCare").search(identifier="urn:test:gerica|GER-7")
        updated, created = episodes.update(writer.resource("EpisodeOfCare", **okt_episode(eva)))
        assert created is True
        assert updated["patient"]["identifier"]["value"] == eva
        _nothing, status = episodes.delete()
        assert status == 204
