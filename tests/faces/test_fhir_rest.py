"""The FHIR face as stock clients use it (issue 23 item 8): GET search with the same parameters,
limits, audit and restrictions as POST _search; read by a logical id that reveals no person;
paging with sealed links; conditional update's Location and ETag."""

from __future__ import annotations

import logging
import random
import re
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from journalloft.faces.fhir.common import resource_id
from journalloft.faces.fhir.ids import Keys, keys_of
from journalloft.faces.fhir.search import MAX_FORM_BYTES, read_query
from journalloft.platform.face import PayloadTooLarge
from support import people
from support.fhir import FNR, news2_bundle, okt_episode, transaction, validate
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def write(platform: TestPlatform, bundle: dict[str, Any], base: str = "1804") -> None:
    headers = platform.headers(
        "bodo-epj" if base == "1804" else "baerum-epj", **{"Content-Type": "application/fhir+json"}
    )
    written = platform.client.post(f"/fhir/{base}", json=bundle, headers=headers)
    assert written.status_code == 200, written.text


def get(platform: TestPlatform, url: str, client: str = "bodo-legevakt", **params: str) -> Any:
    return platform.client.get(url, params=params, headers=platform.headers(client))


def post(platform: TestPlatform, url: str, client: str = "bodo-legevakt", **params: str) -> Any:
    return platform.client.post(url, data=params, headers=platform.headers(client, **FORM))


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def source_ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in matches(bundle)]


@pytest.fixture
def refusing(platform: TestPlatform) -> Iterator[TestPlatform]:
    """The platform set as a deployment whose proxies log URLs sets it."""
    settings = platform.runtime.settings
    settings.fhir_person_ids_in_urls = "refuse"
    try:
        yield platform
    finally:
        settings.fhir_person_ids_in_urls = "allow"


def test_get_search_answers_as_post_search(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="rest-get")
    write(platform, news2_bundle(eva, "m-eva"))
    write(platform, transaction(okt_episode(bob, period={"start": "2025-01-01"})))
    person = {"patient:identifier": f"{FNR}|{eva}"}
    for where in ("/fhir/Observation", "/fhir/1804/Observation"):
        got = get(platform, where, **person, _sort="-date")
        posted = post(platform, where + "/_search", **person, _sort="-date")
        assert got.status_code == posted.status_code == 200, got.text
        assert got.json()["total"] == posted.json()["total"] == 1
        assert source_ids(got.json()) == source_ids(posted.json()) == ["m-eva"]
        assert [e["fullUrl"] for e in got.json()["entry"]] == [
            e["fullUrl"] for e in posted.json()["entry"]
        ]
    episodes = get(platform, "/fhir/EpisodeOfCare", **{"patient:identifier": f"{FNR}|{bob}"})
    assert episodes.json()["total"] == 1
    # the OKT IG's own call: the count of active services
    count = get(
        platform,
        "/fhir/EpisodeOfCare",
        **{"patient:identifier": f"{FNR}|{bob}", "status": "active", "_summary": "count"},
    ).json()
    assert count["total"] == 1
    assert "entry" not in count


def test_get_search_has_post_searchs_limits_and_errors(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-limits")
    person = f"{FNR}|{eva}"
    codes = ",".join(f"urn:x|c{i}" for i in range(100))
    at_limit = get(platform, "/fhir/Observation", **{"patient:identifier": person, "code": codes})
    assert at_limit.status_code == 200, at_limit.text
    over = get(
        platform, "/fhir/Observation", **{"patient:identifier": person, "code": codes + ",x|y"}
    )
    assert over.status_code == 400
    assert ["code"] in [i.get("expression") for i in over.json()["issue"]]
    unknown = get(platform, "/fhir/Observation", **{"patient:identifier": person, "name": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["issue"][1]["expression"] == ["name"]
    assert get(platform, "/fhir/Observation").status_code == 400  # no person
    assert get(platform, "/fhir/Procedure", **{"patient:identifier": person}).status_code == 404
    assert (
        get(platform, "/fhir/9999/Observation", **{"patient:identifier": person}).status_code == 404
    )
    source = get(platform, "/fhir/Observation", "bodo-epj", **{"patient:identifier": person})
    assert source.status_code == 403  # a source may not read, as natively
    assert platform.client.get("/fhir/Observation").status_code == 401
    # the query string's size: as a POST body's (a client cannot send 64 KiB URLs through
    # most stacks, so the rule is held here at its edge)
    assert read_query("a=" + "b" * (MAX_FORM_BYTES - 2)) == [("a", "b" * (MAX_FORM_BYTES - 2))]
    with pytest.raises(PayloadTooLarge):
        read_query("a=" + "b" * (MAX_FORM_BYTES - 1))
    many = "&".join(["_format=json"] * 400)
    assert (
        platform.client.get(
            f"/fhir/Observation?{many}", headers=platform.headers("bodo-legevakt")
        ).status_code
        == 400
    )
    assert (
        get(platform, "/fhir/Observation", **{"patient:identifier": person, "_format": "xml"})
    ).status_code == 406
    assert (
        platform.client.get(
            "/fhir/Observation",
            params={"patient:identifier": person},
            headers=platform.headers("bodo-legevakt", Accept="application/fhir+xml"),
        ).status_code
        == 406
    )


def test_get_search_is_audited_and_keeps_restrictions(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="rest-audit")
    write(platform, news2_bundle(eva, "m-e"))
    write(platform, news2_bundle(bob, "m-b"))
    marked = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": bob, "restricted": True},
        headers=platform.headers("bodo-epj"),
    )
    assert marked.status_code == 200, marked.text
    both = get(
        platform, "/fhir/Observation", **{"patient:identifier": f"{FNR}|{eva},{FNR}|{bob}"}
    ).json()
    subjects = {e["resource"]["subject"]["identifier"]["value"] for e in matches(both)}
    assert subjects == {eva}
    outcomes = [e for e in both["entry"] if e["search"]["mode"] == "outcome"]
    assert [o["resource"]["issue"][0]["code"] for o in outcomes] == ["suppressed"]
    for person, outcome in ((eva, "ok"), (bob, "restricted")):
        log = platform.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": person},
            headers=platform.headers("bodo-drift"),
        ).json()["events"]
        assert ("read", "bodo-legevakt", outcome) in {
            (e["action"], e["client_id"], e["outcome"]) for e in log
        }


def test_person_ids_in_urls_can_be_refused(refusing: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-refuse")
    for path in (
        f"/fhir/Observation?patient:identifier={FNR}|{eva}",
        f"/fhir/1804/Observation?subject:identifier={FNR}|{eva}",
        f"/fhir/Patient/{eva}",
    ):
        refused = refusing.client.get(path, headers=refusing.headers("bodo-legevakt"))
        assert refused.status_code == 400, path
        validate(refused.json())
        assert "POST" in refused.json()["issue"][0]["diagnostics"]
    # POST _search goes on working, and so do its page links and reads (no person id in them)
    for i in range(2):
        write(refusing, news2_bundle(eva, f"m-r{i}", hours_ago=i + 1))
    posted = post(
        refusing, "/fhir/Observation/_search", **{"patient:identifier": f"{FNR}|{eva}"}, _count="1"
    )
    assert posted.status_code == 200
    following = link(posted.json(), "next") or ""
    assert read(refusing, following).status_code == 200
    assert read(refusing, matches(posted.json())[0]["fullUrl"]).status_code == 200


def test_person_ids_in_urls_are_allowed_by_default(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-allow")
    assert platform.runtime.settings.fhir_person_ids_in_urls == "allow"
    found = get(platform, "/fhir/Observation", **{"patient:identifier": f"{FNR}|{eva}"})
    assert found.status_code == 200
    assert get(platform, f"/fhir/Patient/{eva}").status_code == 404  # not served, not refused


def test_the_access_log_writes_route_templates_never_a_query_string(
    platform: TestPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    (eva,) = people(1, seed="rest-log")
    write(platform, news2_bundle(eva, "m-log"))
    with caplog.at_level(logging.INFO, logger="journalloft.access"):
        found = get(
            platform,
            "/fhir/1804/Observation",
            **{"patient:identifier": f"{FNR}|{eva}", "_count": "1"},
        ).json()
        read = platform.client.get(
            matches(found)[0]["fullUrl"], headers=platform.headers("bodo-legevakt")
        )
        assert read.status_code == 200
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "journalloft.access" and "/fhir" in r.getMessage()
    ]
    assert len(lines) == 2
    assert "GET /fhir/{kommunenummer:fhir_kommune}/{resource_type:fhir_type} 200" in lines[0]
    assert "{logical_id:fhir_id} 200" in lines[1]
    for record in caplog.records:
        assert eva not in record.getMessage()
        assert "?" not in record.getMessage()
        assert eva not in str(record.__dict__)
    assert matches(found)[0]["resource"]["id"] not in caplog.text


def read(platform: TestPlatform, url: str, client: str = "bodo-legevakt") -> Any:
    return platform.client.get(url, headers=platform.headers(client))


def test_every_full_url_of_a_searchset_reads_as_its_entry(platform: TestPlatform) -> None:
    eva, bob = people(2, seed="rest-read")
    write(platform, news2_bundle(eva, "m-read"))
    write(platform, transaction(okt_episode(bob, period={"start": "2025-01-01"})))
    bundle = get(platform, "/fhir/Observation", **{"patient:identifier": f"{FNR}|{eva}"}).json()
    entries = [e for e in bundle["entry"] if e["search"]["mode"] != "outcome"]
    assert len(entries) == 6  # the NEWS2 Observation and its five vital signs
    for entry in entries:
        answer = read(platform, entry["fullUrl"])
        assert answer.status_code == 200, answer.text
        assert answer.json() == entry["resource"]
    # the NEWS2 Observation's members are named by the ids they are read by
    main = matches(bundle)[0]["resource"]
    members = {f"Observation/{e['resource']['id']}" for e in entries[1:]}
    assert {m["reference"] for m in main["hasMember"]} == members
    # at the municipality's base too, and as the id's type only
    # a read takes _format, and refuses what it would otherwise ignore
    assert read(platform, entry["fullUrl"] + "?_format=json").status_code == 200
    assert read(platform, entry["fullUrl"] + "?_format=xml").status_code == 406
    elements = read(platform, entry["fullUrl"] + "?_elements=id")
    assert elements.status_code == 400
    assert elements.json()["issue"][1]["expression"] == ["_elements"]
    at_base = read(platform, f"/fhir/1804/Observation/{main['id']}")
    assert at_base.status_code == 200
    assert at_base.json() == main
    assert read(platform, f"/fhir/3201/Observation/{main['id']}").status_code == 404
    assert read(platform, f"/fhir/EpisodeOfCare/{main['id']}").status_code == 404
    episode = matches(
        get(platform, "/fhir/EpisodeOfCare", **{"patient:identifier": f"{FNR}|{bob}"}).json()
    )[0]
    assert read(platform, episode["fullUrl"]).json() == episode["resource"]


def test_a_read_is_the_persons_audited_lookup_and_keeps_restrictions(
    platform: TestPlatform,
) -> None:
    (eva,) = people(1, seed="rest-read-audit")
    write(platform, news2_bundle(eva, "m-ra"))
    (entry,) = matches(
        post(platform, "/fhir/Observation/_search", **{"patient:identifier": f"{FNR}|{eva}"}).json()
    )

    def reads() -> int:
        log = platform.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": eva},
            headers=platform.headers("bodo-drift"),
        ).json()["events"]
        return sum(1 for e in log if (e["action"], e["client_id"]) == ("read", "bodo-legevakt"))

    before = reads()
    assert read(platform, entry["fullUrl"]).status_code == 200
    assert reads() == before + 1
    # a source may not read, as natively
    assert read(platform, entry["fullUrl"], "bodo-epj").status_code == 403
    # a client another municipality granted is not let into this one by an id
    # a client only another municipality granted learns nothing from an id: 404, as for any
    # unknown id (not 403 "Bodø has not granted you", which would name the id's municipality)
    other = read(platform, entry["fullUrl"], "baerum-legevakt")
    assert other.status_code == 404, other.text
    marked = platform.client.put(
        "/v1/tenants/1804/restrictions",
        json={"patient": eva, "restricted": True},
        headers=platform.headers("bodo-epj"),
    )
    assert marked.status_code == 200
    hidden = read(platform, entry["fullUrl"])
    assert hidden.status_code == 404
    assert hidden.json()["issue"][0]["code"] == "not-found"


def test_a_logical_id_reveals_no_person_and_only_its_own_deployment_reads_it(
    platform: TestPlatform, tmp_path: Any
) -> None:
    eva, bob = people(2, seed="rest-ids")
    write(platform, news2_bundle(eva, "m-1"))
    write(platform, news2_bundle(eva, "m-2", hours_ago=3))
    write(platform, news2_bundle(bob, "m-3"))
    ids = {
        person: [
            e["resource"]["id"]
            for e in get(
                platform, "/fhir/Observation", **{"patient:identifier": f"{FNR}|{person}"}
            ).json()["entry"]
            if e["search"]["mode"] != "outcome"
        ]
        for person in (eva, bob)
    }
    every = ids[eva] + ids[bob]
    assert len(set(every)) == len(every) == 18
    for logical in every:
        assert re.fullmatch(r"[A-Za-z0-9.-]{1,64}", logical)
        assert eva not in logical
        assert bob not in logical
        # not the unsalted hash of kommunenummer, person and record id it used to be
        for person in (eva, bob):
            for record in ("m-1", "m-2", "m-3"):
                assert logical != resource_id("1804", person, record)
    # one person's ids share nothing that links them (no common prefix from the person)
    assert len({logical[:8] for logical in every}) == len(every)
    keys = keys_of(platform.runtime.settings)
    assert keys.owner_of(ids[eva][0]) == ("1804", eva)
    # altered, truncated, of another key or made up: 404, never 5xx
    main = ids[eva][0]
    flipped = main[:20] + ("A" if main[20] != "A" else "B") + main[21:]
    key_file = tmp_path / "other.key"
    key_file.write_bytes(bytes(range(64)))
    other = Keys(platform.runtime.settings.model_copy(update={"fhir_key_file": key_file}))
    foreign = other.public_id("1804", eva, resource_id("1804", eva, "m-1"), service="news2")
    assert other.owner_of(foreign) == ("1804", eva)
    for wrong in (flipped, main[:-1], main + "A", foreign, "x", "0" * 47, "." * 64):
        answer = read(platform, f"/fhir/Observation/{wrong}")
        assert answer.status_code == 404, wrong
    assert read(platform, f"/fhir/Observation/{'A' * 65}").status_code == 404
    assert read(platform, "/fhir/Observation/a_b").status_code in (404, 405)


def test_writes_answer_the_ids_reads_take(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-write-ids")
    headers = platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"})
    answer = platform.client.post(
        "/fhir/1804", json=news2_bundle(eva, "m-loc"), headers=headers
    ).json()
    location = answer["entry"][0]["response"]["location"]
    main = read(platform, f"/fhir/{location}")
    assert main.status_code == 200, main.text
    assert main.json()["identifier"][0]["value"] == "m-loc"


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((x["url"] for x in bundle["link"] if x["relation"] == relation), None)


def test_paging_with_next_and_previous_links_that_carry_no_person(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-pages")
    for i in range(5):
        write(platform, news2_bundle(eva, f"m-{i}", hours_ago=i + 1))
    person = {"patient:identifier": f"{FNR}|{eva}"}
    first = get(platform, "/fhir/1804/Observation", **person, _sort="-date", _count="2").json()
    assert first["total"] == 5
    assert source_ids(first) == ["m-0", "m-1"]
    assert link(first, "previous") is None
    self_link = urlsplit(link(first, "self") or "")
    assert self_link.path == "/fhir/1804/Observation"
    assert parse_qs(self_link.query) == {"_sort": ["-date"], "_count": ["2"]}
    seen, page, pages = [], first, 0
    while True:
        seen += source_ids(page)
        for relation in ("self", "next", "previous"):
            url = link(page, relation) or ""
            assert eva not in url
            assert "identifier" not in url
        pages += 1
        following = link(page, "next")
        if following is None:
            break
        assert set(parse_qs(urlsplit(following).query)) == {"_page"}
        answer = read(platform, following)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == 5
    assert pages == 3
    assert seen == [f"m-{i}" for i in range(5)]
    back = read(platform, link(page, "previous") or "")
    assert source_ids(back.json()) == ["m-2", "m-3"]
    # POST _search pages alike; its links are GETs of the same search
    posted = post(platform, "/fhir/Observation/_search", **person, _sort="date", _count="4")
    following = link(posted.json(), "next") or ""
    assert urlsplit(following).path == "/fhir/Observation"
    assert source_ids(read(platform, following).json()) == ["m-0"]
    # no _count: every match on one page, no links to follow
    whole = get(platform, "/fhir/Observation", **person).json()
    assert len(matches(whole)) == 5
    assert [x["relation"] for x in whole["link"]] == ["self"]


def test_a_page_link_works_only_for_its_client_search_and_time(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-page-bounds")
    for i in range(3):
        write(platform, news2_bundle(eva, f"m-{i}", hours_ago=i + 1))
    start = datetime.now(UTC).replace(microsecond=0)
    platform.set_now(start)
    lifetime = platform.runtime.settings.fhir_page_seconds
    person = {"patient:identifier": f"{FNR}|{eva}"}
    first = get(platform, "/fhir/Observation", **person, _count="1").json()
    following = link(first, "next") or ""
    token = parse_qs(urlsplit(following).query)["_page"][0]
    # another client may not use it: the token is bound to its client (400 before any grant
    # is looked at; without the binding this client would get the lookup's 403)
    stranger = read(platform, following, "baerum-legevakt")
    assert stranger.status_code == 400, stranger.text
    # altered anywhere: refused
    for altered in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token[:40], "x"):
        answer = read(platform, f"/fhir/Observation?_page={altered}")
        assert answer.status_code == 400, altered
        assert answer.json()["issue"][1]["expression"] == ["_page"]
    # another type or base than the search's
    assert read(platform, f"/fhir/EpisodeOfCare?_page={token}").status_code == 400
    assert read(platform, f"/fhir/1804/Observation?_page={token}").status_code == 400
    # the token is the whole search: nothing beside it but _format
    assert read(platform, following + "&_count=5").status_code == 400
    assert read(platform, following + "&_format=json").status_code == 200
    # still valid at its last second, expired after it
    platform.set_now(start + timedelta(seconds=lifetime))
    assert read(platform, following).status_code == 200
    platform.set_now(start + timedelta(seconds=lifetime + 1))
    expired = read(platform, following)
    assert expired.status_code == 410
    assert expired.json()["issue"][0]["code"] == "expired"


def test_count_bounds_and_count_zero(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-count")
    write(platform, news2_bundle(eva, "m-c"))
    person = {"patient:identifier": f"{FNR}|{eva}"}
    most = get(platform, "/fhir/Observation", **person, _count="10000")
    assert most.status_code == 200
    assert link(most.json(), "next") is None
    over = get(platform, "/fhir/Observation", **person, _count="10001")
    assert over.status_code == 400
    assert ["_count"] in [i.get("expression") for i in over.json()["issue"]]
    zero = get(platform, "/fhir/Observation", **person, _count="0").json()
    assert zero["total"] == 1
    assert "entry" not in zero
    assert [x["relation"] for x in zero["link"]] == ["self"]


def test_conditional_update_answers_location_etag_and_prefer(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-put")
    url = "/fhir/1804/EpisodeOfCare?identifier=urn:test:gerica|GER-42"
    headers = platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"})

    def episode(updated: str) -> dict[str, Any]:
        return okt_episode(eva, period={"start": "2025-01-01"}, meta={"lastUpdated": updated})

    created = platform.client.put(url, json=episode("2026-11-20T10:00:00Z"), headers=headers)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("http://testserver/fhir/1804/EpisodeOfCare/")
    assert created.json()["id"] == location.rsplit("/", 1)[1]
    first_tag = created.headers["etag"]
    assert re.fullmatch(r'W/"[0-9]+"', first_tag)
    # the Location reads (by a reader) as the resource the searches find
    found = read(platform, location)
    assert found.status_code == 200, found.text
    assert found.json()["identifier"][0]["value"] == "GER-42"
    # the same version again: unchanged, the same ETag; a newer one: another ETag
    same = platform.client.put(url, json=episode("2026-11-20T10:00:00Z"), headers=headers)
    assert same.status_code == 200
    assert same.headers["etag"] == first_tag
    assert same.headers["location"] == location
    newer = platform.client.put(
        url,
        json=episode("2026-11-21T10:00:00Z"),
        headers={**headers, "Prefer": "return=OperationOutcome"},
    )
    assert newer.status_code == 200
    assert newer.json()["issue"][0]["diagnostics"].startswith("updated")
    assert newer.headers["etag"] not in (first_tag, None)
    # an older version is stale: its version is not what is stored, so no ETag
    stale = platform.client.put(
        url, json=episode("2026-11-19T10:00:00Z"), headers={**headers, "Prefer": "return=minimal"}
    )
    assert stale.status_code == 200
    assert stale.content == b""
    assert "etag" not in stale.headers
    assert stale.headers["location"] == location
    shown = platform.client.put(
        url,
        json=episode("2026-11-21T10:00:00Z"),
        headers={**headers, "Prefer": "return=representation"},
    )
    assert shown.json()["resourceType"] == "EpisodeOfCare"
    assert shown.json()["id"] == location.rsplit("/", 1)[1]


def test_the_capability_statement_declares_read_search_and_paging(platform: TestPlatform) -> None:
    statement = platform.client.get("/fhir/metadata").json()
    validate(statement)
    for resource in statement["rest"][0]["resource"]:
        codes = [i["code"] for i in resource["interaction"]]
        assert codes == ["read", "search-type", "update", "delete"]
        search_type = next(i for i in resource["interaction"] if i["code"] == "search-type")
        assert "GET" in search_type["documentation"]
        assert "POST" in search_type["documentation"]
        assert resource["conditionalUpdate"] is True
    common = {p["name"]: p for p in statement["rest"][0]["searchParam"]}
    assert common["_count"]["type"] == "number"
    assert "next" in common["_count"]["documentation"]
    assert common["_summary"]["type"] == "token"


def test_a_search_too_large_for_a_page_link_says_so(platform: TestPlatform) -> None:
    (eva,) = people(1, seed="rest-huge")
    for i in range(2):
        write(platform, news2_bundle(eva, f"m-{i}", hours_ago=i + 1))
    rng = random.Random(23)
    unreserved = string.ascii_letters + string.digits + "-._~"
    # 99 codes that match nothing and compress badly, and the NEWS2 code: just under the limits
    codes = ["".join(rng.choice(unreserved) for _ in range(640)) for _ in range(99)]
    codes.append("http://snomed.info/sct|1104051000000101")
    person = {"patient:identifier": f"{FNR}|{eva}"}
    small = post(platform, "/fhir/Observation/_search", **person, code=codes[-1], _count="1")
    assert link(small.json(), "next") is not None
    huge = post(platform, "/fhir/Observation/_search", **person, code=",".join(codes), _count="1")
    assert huge.status_code == 200, huge.text
    bundle = huge.json()
    assert source_ids(bundle) == ["m-0"]
    assert link(bundle, "next") is None
    outcomes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert [o["issue"][0]["code"] for o in outcomes] == ["too-costly"]
    assert "no next link" in outcomes[0]["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/fhir/1804/EpisodeOfCare", "GET, PUT, DELETE"),  # create
        ("PATCH", "/fhir/1804/EpisodeOfCare", "GET, PUT, DELETE"),
        ("POST", "/fhir/EpisodeOfCare", "GET"),
        ("PUT", "/fhir/1804/EpisodeOfCare/abc-1", "GET"),  # update by id
        ("DELETE", "/fhir/Observation/abc-1", "GET"),  # delete by id
    ],
)
def test_405_names_what_the_url_supports_now_that_get_does(
    platform: TestPlatform, method: str, path: str, allow: str
) -> None:
    answer = platform.client.request(
        method,
        path,
        json={"resourceType": "EpisodeOfCare"},
        headers=platform.headers("bodo-epj", **{"Content-Type": "application/fhir+json"}),
    )
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allow
