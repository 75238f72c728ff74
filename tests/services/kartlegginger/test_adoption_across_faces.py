"""Issue 25: "Bodø adopts both; Bærum adopts Tiltaksplan only, and a consumer of both gets no
Kartlegginger from Bærum and no error", on every face a legevakt reads: the native API, FHIR
(where Kartlegginger's Observations are served beside NEWS2's) and the board. The shipped tenant
files, with one consumer (Salten legevakt) that both municipalities grant all they adopted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from journalloft.app import board_parts
from journalloft.board.app import create_board_app
from journalloft.services.kartlegginger.fhir import PLATFORM
from support import people, sample_record
from support.browser import Served
from support.fhir import FNR, fhir_checked
from support.live import served_platform
from support.platform import Backend, TestPlatform

(ALICE,) = people(1, seed="adoption-across-faces")
SALTEN = "salten-legevakt"
REPO = Path(__file__).resolve().parents[3]
SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category|survey"


def shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "tenants" / name).read_text("utf-8"))
    return document


def push(platform: TestPlatform, kommunenummer: str, service: str, record: dict[str, Any]) -> None:
    source = {"1804": "bodo-epj", "3201": "baerum-epj"}[kommunenummer]
    answer = platform.client.post(
        f"/v1/tenants/{kommunenummer}/{service}/records",
        json={"records": [record]},
        headers=platform.headers(source),
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def pilots(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    tmp = tmp_path_factory.mktemp("adoption")
    with served_platform(module_backend, tmp, heartbeat_seconds=1) as platform:
        bodo, baerum = shipped("bodo.yaml"), shipped("baerum.yaml")
        assert "kartlegginger" in bodo["services"]
        assert "kartlegginger" not in baerum["services"]
        assert "tiltaksplan" in baerum["services"]
        for document in (bodo, baerum):
            document["consumers"].append(
                {"client_id": SALTEN, "name": "Salten", "services": sorted(document["services"])}
            )
            platform.onboard(document)
        at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
        push(platform, "1804", "kartlegginger", sample_record("kartlegginger", "K-1", ALICE, at=at))
        for kommunenummer, prefix in (("1804", "bodo"), ("3201", "baerum")):
            push(platform, kommunenummer, "news2", sample_record("news2", prefix, ALICE, at=at))
        measure = sample_record("tiltaksplan", "T-1", ALICE, at=at)
        measure["schedule"] = {"times": ["08:00", "20:00"]}
        push(platform, "3201", "tiltaksplan", measure)
        yield platform


def look_up(platform: TestPlatform, service: str, **options: Any) -> Any:
    return platform.client.post(
        f"/v1/{service}/query",
        json={"patients": [ALICE], **options},
        headers=platform.headers(SALTEN),
    )


def fhir_search(platform: TestPlatform, path: str, **params: str) -> Any:
    with fhir_checked(platform.client):
        return platform.client.post(
            f"/fhir{path}",
            data={"patient:identifier": f"{FNR}|{ALICE}", **params},
            headers=platform.headers(SALTEN),
        )


def test_the_native_api_answers_bodo_only_and_no_refusal(pilots: TestPlatform) -> None:
    assessments = look_up(pilots, "kartlegginger")
    assert assessments.status_code == 200, assessments.text
    assert assessments.json().keys() == {"results"}  # nothing refused: Bærum is not asked
    assert [r["kommunenummer"] for r in assessments.json()["results"]] == ["1804"]
    plans = look_up(pilots, "tiltaksplan").json()
    assert [r["kommunenummer"] for r in plans["results"]] == ["3201"]
    scores = look_up(pilots, "news2").json()
    assert [r["kommunenummer"] for r in scores["results"]] == ["1804", "3201"]
    # asked for Bærum by name, the service it has not adopted is the 404 it is
    assert look_up(pilots, "kartlegginger", kommuner=["3201"]).status_code == 404


def test_fhir_answers_bodos_assessments_beside_both_news2_and_no_error(
    pilots: TestPlatform,
) -> None:
    everywhere = fhir_search(pilots, "/Observation/_search")
    assert everywhere.status_code == 200, everywhere.text
    entries = everywhere.json()["entry"]
    assert not [e for e in entries if e["search"]["mode"] == "outcome"]
    found = [
        e["resource"]["identifier"][0]["value"] for e in entries if e["search"]["mode"] == "match"
    ]
    assert found == ["K-1", "bodo", "baerum"]  # kartlegginger, then news2; one person, by kommune

    at_baerum = fhir_search(pilots, "/3201/Observation/_search")
    assert at_baerum.status_code == 200, at_baerum.text
    entries = at_baerum.json()["entry"]
    assert not [e for e in entries if e["search"]["mode"] == "outcome"]
    matched = [e["resource"] for e in entries if e["search"]["mode"] == "match"]
    assert [r["identifier"][0]["value"] for r in matched] == ["baerum"]

    surveys = fhir_search(pilots, "/3201/Observation/_search", code=f"{PLATFORM}|mst")
    assert surveys.status_code == 404  # only Kartlegginger could match: asked by name, as natively
    assert surveys.json()["resourceType"] == "OperationOutcome"
    plans = fhir_search(pilots, "/CarePlan/_search", category="supervision")
    assert plans.status_code == 200, plans.text
    assert plans.json()["total"] == 1


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 10) -> Any:
    """``read()`` until ``done`` says it is there (the board relays a live stream)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_the_board_shows_bodos_assessment_and_baerums_measure_with_no_error(
    pilots: TestPlatform,
) -> None:
    client = {
        "client_id": SALTEN,
        "private_jwk": pilots.key(SALTEN).as_dict(private=True),
        "scopes": [f"{s}:read" for s in ("kartlegginger", "news2", "tiltaksplan")],
    }
    app = create_board_app(str(pilots.client.base_url), client, parts=board_parts())
    with Served(app) as board:
        host = f"127.0.0.1:{board.port}"
        added = httpx.post(
            board.url + "/patients",
            json={"patient": ALICE},
            headers={"Host": host, "Origin": f"http://{host}"},
            timeout=10,
        )
        assert added.status_code == 201, added.text
        wanted = {"assessments", "next_measure", "news2"}
        view = eventually(
            lambda: httpx.get(board.url + "/board", timeout=10).json(),
            lambda v: wanted <= v["patients"][0]["cells"].keys() and v["connected"],
        )
    assert view["connected"], view["status"]
    assert set(view["status"]) >= {"kartlegginger", "news2", "tiltaksplan"}
    assert set(view["status"].values()) == {"connected"}
    [row] = view["patients"]
    assert wanted <= row["cells"].keys(), row["cells"]
    [assessment] = row["cells"]["assessments"]["items"]
    assert assessment["text"].startswith("MST")
