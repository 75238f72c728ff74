"""The FHIR face's bounds: every search parameter has a most values, a search a most parameters
and bytes, each refused with an OperationOutcome that names the limit; the biggest search still
allowed leaves the event loop free; and what a client sends is never a 5xx (issue 21)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from journalloft.faces.fhir.search import (
    MAX_COUNT,
    MAX_FORM_BYTES,
    MAX_PARAMETERS,
    MAX_VALUES,
)
from support import people, sample_record
from support.fhir import FNR, served, served_token, validate
from support.platform import TestPlatform

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

FORM = "application/x-www-form-urlencoded"
LOINC = "http://loinc.org"
HEALTHZ_WITHIN = 0.1
"""Issue 21: while the biggest allowed search runs, /healthz answers within 100 ms."""


def post_search(
    platform: TestPlatform,
    content: bytes | str,
    *,
    path: str = "/fhir/Observation/_search",
    media: str = FORM,
) -> httpx.Response:
    headers = platform.headers("bodo-legevakt", **{"Content-Type": media})
    body = content.encode() if isinstance(content, str) else content
    return platform.client.post(path, content=body, headers=headers)


def one_person_form(**extra: list[str]) -> list[tuple[str, str]]:
    (eva,) = people(1, seed="fhir-limits")
    pairs = [("patient:identifier", f"{FNR}|{eva}")]
    for name, values in extra.items():
        pairs += [(name, v) for v in values]
    return pairs


def values_of(name: str, n: int, persons: list[str]) -> list[tuple[str, str]]:
    """``n`` valid values of the parameter ``name``, comma-separated where FHIR allows it."""
    if name == "patient:identifier":
        return [(name, ",".join(f"{FNR}|{p}" for p in persons[:n]))]
    if name == "code":
        return [(name, ",".join(f"{LOINC}|{9000 + i}-1" for i in range(n)))]
    if name == "category":
        return [(name, ",".join(["survey"] * n))]
    if name == "status":
        return [(name, ",".join(["final"] * n))]
    if name == "date":
        return [(name, "ge2026-01-01")] * n
    return [(name, {"_sort": "-date", "_count": "5", "_summary": "count"}[name])] * n


def outcome_text(response: httpx.Response) -> str:
    outcome = response.json()
    validate(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    return " ".join(i.get("diagnostics", "") for i in outcome["issue"])


@pytest.mark.parametrize("name", sorted(MAX_VALUES))
def test_each_parameter_takes_at_most_its_values(platform: TestPlatform, name: str) -> None:
    most = MAX_VALUES[name]
    persons = people(most + 1, seed="fhir-limits-many")
    base = [] if name == "patient:identifier" else values_of("patient:identifier", 1, persons)
    at_limit = post_search(platform, urlencode(base + values_of(name, most, persons)))
    assert at_limit.status_code == 200, at_limit.text
    over = post_search(platform, urlencode(base + values_of(name, most + 1, persons)))
    assert over.status_code == 400, over.text
    said = outcome_text(over)
    assert f"{name} at most {most}" in said
    assert over.json()["issue"][1]["expression"] == [name]


def test_repetitions_and_both_person_parameters_count_together(platform: TestPlatform) -> None:
    most = MAX_VALUES["patient:identifier"]
    persons = people(most + 1, seed="fhir-limits-many")
    half = most // 2
    pairs = [("patient:identifier", f"{FNR}|{p}") for p in persons[:half]]
    pairs += [("subject:identifier", f"{FNR}|{p}") for p in persons[half : most + 1]]
    over = post_search(platform, urlencode(pairs))
    assert over.status_code == 400, over.text
    assert f"patient:identifier at most {most}" in outcome_text(over)
    assert post_search(platform, urlencode(pairs[:most])).status_code == 200


def test_the_issues_search_is_refused_at_once(platform: TestPlatform) -> None:
    """50 people and 100 000 codes (a 1 MB form) ran 72 s on the event loop: now a 413 before
    any of it is read; with codes that fit the form, a 400 naming the code limit."""
    persons = people(50, seed="fhir-limits-many")
    who = ",".join(f"{FNR}|{p}" for p in persons)
    huge = urlencode([("patient:identifier", who), ("code", ",".join(["8867-4"] * 100_000))])
    refused = post_search(platform, huge)
    assert refused.status_code == 413, refused.text
    assert refused.json()["issue"][0]["code"] == "too-costly"
    assert f"at most {MAX_FORM_BYTES} bytes" in outcome_text(refused)
    many = urlencode([("patient:identifier", who), ("code", ",".join(["8867-4"] * 5_000))])
    assert len(many) <= MAX_FORM_BYTES
    refused = post_search(platform, many)
    assert refused.status_code == 400, refused.text
    assert f"code at most {MAX_VALUES['code']}" in outcome_text(refused)


@pytest.mark.parametrize("media", [FORM, "application/fhir+json"])
def test_a_search_body_has_at_most_its_bytes(platform: TestPlatform, media: str) -> None:
    def body(size: int) -> bytes:
        if media == FORM:
            start = urlencode(one_person_form()) + "&code="
            return (start + "x" * (size - len(start))).encode()
        start = (
            '{"resourceType":"Parameters","parameter":[{"name":"patient:identifier",'
            f'"valueString":"{FNR}|{people(1, seed="fhir-limits")[0]}"}},'
            '{"name":"code","valueString":"'
        )
        end = '"}]}'
        return (start + "x" * (size - len(start) - len(end)) + end).encode()

    at_limit = post_search(platform, body(MAX_FORM_BYTES), media=media)
    assert len(body(MAX_FORM_BYTES)) == MAX_FORM_BYTES
    assert at_limit.status_code == 200, at_limit.text
    over = post_search(platform, body(MAX_FORM_BYTES + 1), media=media)
    assert over.status_code == 413, over.text
    assert f"at most {MAX_FORM_BYTES} bytes" in outcome_text(over)


def test_a_search_has_at_most_its_parameters(platform: TestPlatform) -> None:
    """Up to the limit every unknown parameter is named; beyond it one issue names the limit
    (the answer does not grow with what was sent)."""
    unknown = [(f"x{i}", "1") for i in range(MAX_PARAMETERS)]
    named = post_search(platform, urlencode(unknown))
    assert named.status_code == 400
    assert len(named.json()["issue"]) == 1 + MAX_PARAMETERS
    over = post_search(platform, urlencode([*unknown, ("x", "1")]))
    assert over.status_code == 400
    assert len(over.json()["issue"]) == 2
    assert f"at most {MAX_PARAMETERS} parameters" in outcome_text(over)
    as_json = {
        "resourceType": "Parameters",
        "parameter": [{"name": n, "valueString": v} for n, v in [*unknown, ("x", "1")]],
    }
    over = post_search(platform, httpx_json(as_json), media="application/fhir+json")
    assert over.status_code == 400
    assert f"at most {MAX_PARAMETERS} parameters" in outcome_text(over)


def httpx_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def biggest_allowed_search(persons: list[str]) -> str:
    """Every parameter at its limit: 200 people, 100 codes (the vital signs among them, so that
    members match too), 8 dates, 10 statuses, _sort and _count."""
    codes = ["http://snomed.info/sct|1104051000000101", "8867-4", "9279-1", "59408-5", "8310-5"]
    codes += [f"{LOINC}|{9000 + i}-1" for i in range(MAX_VALUES["code"] - len(codes))]
    pairs = [
        ("patient:identifier", ",".join(f"{FNR}|{p}" for p in persons)),
        ("code", ",".join(codes)),
        ("status", ",".join(["final"] * MAX_VALUES["status"])),
        ("_sort", "-date"),
        ("_count", str(MAX_COUNT)),
    ]
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    pairs += [("date", f"ge{week_ago}")] * MAX_VALUES["date"]
    return urlencode(pairs)


def test_healthz_answers_while_the_biggest_allowed_search_runs(platform: TestPlatform) -> None:
    """The app served by uvicorn; one thread posts the biggest search still allowed over and over
    (200 people with three measurements each), while /healthz is polled. Only the polls that
    began and ended while a search was in flight count; at least 80 % of them answer within
    100 ms (a search on the loop would hold nearly all of them)."""
    persons = people(MAX_VALUES["patient:identifier"], seed="fhir-limits-busy")
    now = datetime.now(UTC)
    records = [
        sample_record("news2", f"m-{i}-{j}", p, at=(now - timedelta(hours=j + 1)).isoformat())
        for i, p in enumerate(persons)
        for j in range(3)
    ]
    stored = platform.client.post(
        "/v1/tenants/1804/news2/records",
        json={"records": records},
        headers=platform.headers("bodo-epj"),
    )
    assert stored.status_code == 200, stored.text
    form = biggest_allowed_search(persons)
    searching: list[tuple[float, float, int]] = []
    polls: list[tuple[float, float]] = []
    stop = threading.Event()
    failed: list[BaseException] = []

    with served(platform) as url:
        token = served_token(platform, url, "bodo-legevakt")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": FORM}

        def search_again_and_again() -> None:
            try:
                with httpx.Client(base_url=url, timeout=120) as client:
                    while not stop.is_set():
                        began = time.monotonic()
                        answer = client.post(
                            "/fhir/Observation/_search", content=form, headers=headers
                        )
                        searching.append((began, time.monotonic(), answer.status_code))
                        assert answer.json()["total"] == len(records) * 2, answer.text[:300]
            except BaseException as exc:  # reported below
                failed.append(exc)

        searcher = threading.Thread(target=search_again_and_again, daemon=True)
        searcher.start()
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/healthz")
            while len(during(polls, searching)) < 20 and time.monotonic() < deadline:
                assert not failed, failed
                began = time.monotonic()
                assert client.get("/healthz").status_code == 200
                polls.append((began, time.monotonic()))
        stop.set()
        searcher.join(timeout=120)
    assert not failed, failed
    assert searching
    assert all(status == 200 for _, _, status in searching)
    overlapping = during(polls, searching)
    assert len(overlapping) >= 20, (len(polls), len(searching))
    # A search on the event loop holds every poll that overlaps it until it ends: nearly all of
    # them are slow. One poll delayed by the machine (a busy CI runner, a GC pause) is not that.
    times = sorted(end - began for began, end in overlapping)
    quick = sum(1 for t in times if t < HEALTHZ_WITHIN)
    assert quick >= 0.8 * len(times), (
        f"only {quick} of {len(times)} /healthz polls during a search answered within "
        f"{HEALTHZ_WITHIN} s; the slowest took {times[-1]:.3f} s"
    )


def during(
    polls: list[tuple[float, float]], searches: list[tuple[float, float, int]]
) -> list[tuple[float, float]]:
    """The polls that began and ended within one search (begun and answered)."""
    return [
        (began, end)
        for began, end in polls
        if any(s_began < began and end < s_end for s_began, s_end, _ in searches)
    ]
