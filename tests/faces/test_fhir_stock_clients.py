"""Stock FHIR clients, unchanged and with their defaults, against the served app (uvicorn on a
loopback port, issue 23 item 8): fhirpy and SMART on FHIR's fhirclient each search with GET,
read a search result by its id, page through ``next`` links, and (as a journal system) write.
Every FHIR answer is checked by the R4 schema and fhir.resources (``fhir_answers_checked``);
fhirclient also parses every resource into its own strict R4 models."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhirclient import client as smart
from fhirclient.models.bundle import Bundle
from fhirclient.models.episodeofcare import EpisodeOfCare
from fhirclient.models.fhirsearch import FHIRSearch
from fhirclient.models.observation import Observation
from fhirpy import SyncFHIRClient

from support import people
from support.fhir import FNR, news2_bundle, okt_episode, served, served_token, transaction
from support.platform import TestPlatform, unavailable

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

MEASUREMENTS = 5


@pytest.fixture
def server(platform: TestPlatform) -> Iterator[tuple[TestPlatform, str, str]]:
    """The served app with one person's five NEWS2 measurements (each with five vital signs)."""
    (eva,) = people(1, seed="stock-clients")
    headers = platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"})
    for i in range(MEASUREMENTS):
        written = platform.client.post(
            "/fhir/1804", json=news2_bundle(eva, f"m-{i}", hours_ago=i + 1), headers=headers
        )
        assert written.status_code == 200, written.text
    with served(platform) as url:
        yield platform, url, eva


def fhirclient_for(url: str, token: str) -> smart.FHIRClient:
    client = smart.FHIRClient(settings={"app_id": "journalloft-tests", "api_base": url + "/"})
    client.server.session.headers["Authorization"] = f"Bearer {token}"
    return client


def test_fhirpy_searches_with_get_reads_and_pages(server: tuple[TestPlatform, str, str]) -> None:
    platform, url, eva = server
    reader = SyncFHIRClient(
        f"{url}/fhir", authorization=f"Bearer {served_token(platform, url, 'bodo-legevakt')}"
    )
    search = reader.resources("Observation").search(
        **{"patient:identifier": f"{FNR}|{eva}", "code": "http://snomed.info/sct|1104051000000101"}
    )
    # the default search: one GET, the first page
    # (fhirpy gives the included vital signs with the matches: the NEWS2 ones have identifiers)
    first = [o for o in search.sort("-date").limit(2).fetch() if "identifier" in o]
    assert [o["identifier"][0]["value"] for o in first] == ["m-0", "m-1"]
    # read a result by its id
    again = reader.reference("Observation", first[0]["id"]).to_resource()
    assert dict(again) == dict(first[0])
    # every page through the next links
    every = [o for o in search.sort("-date").limit(2).fetch_all() if "identifier" in o]
    assert [o["identifier"][0]["value"] for o in every] == [f"m-{i}" for i in range(MEASUREMENTS)]
    assert len({o["id"] for o in every}) == MEASUREMENTS
    # the OKT IG's count
    raw = (
        reader.resources("Observation")
        .search(**{"patient:identifier": f"{FNR}|{eva}", "_summary": "count"})
        .fetch_raw()
    )
    assert raw["total"] == MEASUREMENTS  # the NEWS2 Observations (their vital signs are included)
    assert not raw.get("entry")


def test_fhirpy_writes_as_a_journal_system(server: tuple[TestPlatform, str, str]) -> None:
    platform, url, _eva = server
    (bob,) = people(1, seed="stock-fhirpy-writer")
    writer = SyncFHIRClient(
        f"{url}/fhir/1804", authorization=f"Bearer {served_token(platform, url, 'bodo-epj')}"
    )
    answer = writer.execute("", method="post", data=transaction(okt_episode(bob)))
    assert answer["entry"][0]["response"]["status"] == "201 Created"
    episodes = writer.resources("EpisodeOfCare").search(identifier="urn:test:gerica|GER-stock")
    episode = okt_episode(bob, period={"start": "2025-01-01"})
    stored, created = episodes.update(writer.resource("EpisodeOfCare", **episode))
    assert created is True
    reader = SyncFHIRClient(
        f"{url}/fhir", authorization=f"Bearer {served_token(platform, url, 'bodo-legevakt')}"
    )
    read = reader.reference("EpisodeOfCare", stored["id"]).to_resource()
    assert read["identifier"][0]["value"] == "GER-stock"
    _nothing, status = episodes.delete()
    assert status == 204


def test_fhirclient_searches_with_get_reads_and_pages(
    server: tuple[TestPlatform, str, str],
) -> None:
    platform, url, eva = server
    client = fhirclient_for(f"{url}/fhir", served_token(platform, url, "bodo-legevakt"))
    assert client.server.capabilityStatement.fhirVersion == "4.0.1"
    search = FHIRSearch(
        Observation,
        {
            "patient:identifier": f"{FNR}|{eva}",
            "code": "http://snomed.info/sct|1104051000000101",
            "_sort": "-date",
            "_count": "2",
        },
    )
    pages = list(search.perform_iter(client.server))
    matched = [[e for e in p.entry or [] if e.search.mode == "match"] for p in pages]
    assert [len(m) for m in matched] == [2, 2, 1]
    found: list[Any] = [
        e.resource for p in pages for e in p.entry or [] if e.search.mode == "match"
    ]
    assert [o.identifier[0].value for o in found] == [f"m-{i}" for i in range(MEASUREMENTS)]
    # read a result by its id, into the client's own R4 model
    read = Observation.read(found[0].id, client.server)
    assert read.as_json() == found[0].as_json()
    # the vital signs its hasMember names read too
    member = Observation.read_from(found[0].hasMember[0].reference, client.server)
    assert member.valueQuantity is not None
    assert isinstance(pages[0], Bundle)


def test_fhirclient_writes_as_a_journal_system(server: tuple[TestPlatform, str, str]) -> None:
    platform, url, _eva = server
    (bob,) = people(1, seed="stock-fhirclient-writer")
    writer = fhirclient_for(f"{url}/fhir/1804", served_token(platform, url, "bodo-epj"))
    episode = EpisodeOfCare(okt_episode(bob, period={"start": "2025-01-01"}))
    put = writer.server.put_json("EpisodeOfCare?identifier=urn:gerica|GER-smart", episode.as_json())
    assert put.status_code == 201
    location = put.headers["Location"]
    answer = writer.server.post_json("", transaction(okt_episode(bob))).json()
    assert answer["entry"][0]["response"]["status"] == "201 Created"
    reader = fhirclient_for(f"{url}/fhir", served_token(platform, url, "bodo-legevakt"))
    read = EpisodeOfCare.read_from(location, reader.server)
    assert read.identifier[0].value == "GER-smart"


JS = Path(__file__).parents[1] / "js"


def test_fhir_kit_client_searches_with_get_reads_pages_and_writes(
    server: tuple[TestPlatform, str, str],
) -> None:
    """npm's fhir-kit-client (installed from tests/js/package-lock.json by ``make``), run by
    node with its defaults: GET search, read, next pages, a transaction and a conditional
    update read back."""
    if shutil.which("node") is None or not (JS / "node_modules" / "fhir-kit-client").is_dir():
        unavailable("node and tests/js/node_modules (make installs them with npm ci)")
    platform, url, eva = server
    (bob,) = people(1, seed="stock-fhir-kit-client")
    given = {
        "base": url,
        "reader": served_token(platform, url, "bodo-legevakt"),
        "source": served_token(platform, url, "bodo-epj"),
        "search": {
            "patient:identifier": f"{FNR}|{eva}",
            "code": "http://snomed.info/sct|1104051000000101",
            "_sort": "-date",
            "_count": "2",
        },
        "transaction": transaction(okt_episode(bob)),
        "identifier": "urn:gerica|GER-fkc",
        "episode": okt_episode(bob, period={"start": "2025-01-01"}),
    }
    ran = subprocess.run(
        ["node", str(JS / "fhir_kit_client.mjs")],
        input=json.dumps(given).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr.decode()
    seen = json.loads(ran.stdout)
    assert seen["firstPage"] == ["m-0", "m-1"]
    assert seen["readIsTheEntry"] is True
    assert seen["pages"] == 3
    assert seen["all"] == [f"m-{i}" for i in range(MEASUREMENTS)]
    assert seen["transaction"] == ["201 Created"]
    assert seen["readBack"] == "GER-fkc"
