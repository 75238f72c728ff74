"""What a client sends never makes the platform fail: instants out of range, leap seconds, U+0000,
duplicate keys and deep nesting are refused as problem+json with a JSON Pointer, on every route."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest

from journalloft.platform.http.body import MAX_DEPTH
from support import people, tenant_document
from support.platform import Backend, TestPlatform, start_platform

ALICE, BOB = people(2, seed="hostile-input")
PROBLEM = "application/problem+json"
FEED = "/v1/tenants/1804/audit/events"


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø with both services; the platform's clock is the real one."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("hostile")):
        platform.onboard(tenant_document("1804"))
        yield platform


def instant(delta: timedelta = timedelta(minutes=-10)) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def measurement(record_id: str = "m-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": ALICE,
        "updated": instant(),
        "effective": instant(),
        "respiration_rate": 18,
        "spo2": 97,
        "spo2_scale": 1,
        "pulse": 80,
        **fields,
    }


def a_service(record_id: str = "s-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "patient": ALICE,
        "updated": instant(),
        "service_code": "15",
        "start": "2026-01-05",
        **fields,
    }


RECORDS = {"news2": measurement, "kommunale-tjenester": a_service}


def post(platform: TestPlatform, url: str, body: Any, client: str = "bodo-epj") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return platform.client.post(
        url,
        content=content,
        headers={**platform.headers(client), "content-type": "application/json"},
    )


def push(platform: TestPlatform, service: str, *records: dict[str, Any]) -> httpx.Response:
    return post(platform, f"/v1/tenants/1804/{service}/records", {"records": list(records)})


def errors(response: httpx.Response, status: int = 422) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return {e["pointer"]: e["message"] for e in response.json()["errors"]}


EXTREME_INSTANTS = [
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "2099-01-01T00:00:00Z",
]


@pytest.mark.parametrize("service", sorted(RECORDS))
@pytest.mark.parametrize("value", EXTREME_INSTANTS)
def test_an_instant_out_of_range_is_refused_at_its_pointer(
    platform: TestPlatform, service: str, value: str
) -> None:
    make = RECORDS[service]
    response = push(platform, service, make("ok-1"), make("bad-1", updated=value))
    found = errors(response)
    assert list(found) == ["/records/1/updated"]
    assert "1900" in found["/records/1/updated"] or "future" in found["/records/1/updated"]


@pytest.mark.parametrize("value", EXTREME_INSTANTS)
def test_a_measurement_effective_out_of_range_is_refused(
    platform: TestPlatform, value: str
) -> None:
    found = errors(push(platform, "news2", measurement("e-1", effective=value)))
    assert list(found) == ["/records/0/effective"]


@pytest.mark.parametrize("service", sorted(RECORDS))
def test_a_leap_second_is_refused_with_a_clear_message(
    platform: TestPlatform, service: str
) -> None:
    found = errors(
        push(platform, service, RECORDS[service]("leap", updated="2016-12-31T23:59:60Z"))
    )
    assert list(found) == ["/records/0/updated"]
    assert "leap second" in found["/records/0/updated"]


def test_an_instant_in_the_clock_skew_is_accepted_and_one_beyond_it_refused(
    platform: TestPlatform,
) -> None:
    skewed = measurement("skew-1", updated=instant(timedelta(minutes=4)))
    assert push(platform, "news2", skewed).status_code == 200
    ahead = measurement("skew-2", updated=instant(timedelta(minutes=6)))
    found = errors(push(platform, "news2", ahead))
    assert "future" in found["/records/0/updated"]


def test_a_future_updated_cannot_make_later_corrections_stale(platform: TestPlatform) -> None:
    """The pen test's case: an ``updated`` in 2099 would have won over every correction."""
    future = a_service("pinned", updated="2099-01-01T00:00:00Z")
    assert push(platform, "kommunale-tjenester", future).status_code == 422
    assert push(platform, "kommunale-tjenester", a_service("pinned")).json()["created"] == 1


def test_rfc3339s_lower_case_t_and_z_are_accepted(platform: TestPlatform) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dt%H:%M:%S.%fz")
    response = push(platform, "news2", measurement("lower", updated=at, effective=at))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("start", "0001-01-01"), ("start", "1899-12-31"), ("end", "0001-01-01")],
)
def test_a_date_out_of_range_is_refused_at_its_pointer(
    platform: TestPlatform, field: str, value: str
) -> None:
    found = errors(push(platform, "kommunale-tjenester", a_service("d-1", **{field: value})))
    assert f"/records/0/{field}" in found
    assert "1900" in found[f"/records/0/{field}"]


def test_an_end_date_far_in_the_future_is_accepted(platform: TestPlatform) -> None:
    response = push(platform, "kommunale-tjenester", a_service("open", end="9999-12-31"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", [*EXTREME_INSTANTS, "2016-12-31T23:59:60Z"])
def test_the_feed_refuses_a_since_out_of_range_at_query_since(
    platform: TestPlatform, value: str
) -> None:
    response = platform.client.get(
        FEED, params={"since": value}, headers=platform.headers("bodo-drift")
    )
    assert "/query/since" in errors(response)


def cursor(document: Any) -> str:
    raw = json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "document",
    [
        {"t": "9999-12-31T23:59:59-23:59", "i": 1},
        {"t": "0001-01-01T00:00:00+14:00", "i": 1},
        {"t": "2026-01-01T00:00:00+00:00", "i": 2**64},
        {"t": "2026-01-01T00:00:00+00:00", "i": True},
        {"t": "2026-12-31T23:59:60+00:00", "i": 1},
        {"t": "1899-12-31T23:59:59+00:00", "i": 1},
        {"t": "2099-01-01T00:00:00+00:00", "i": 1},
    ],
)
def test_the_feed_refuses_a_forged_cursor_at_query_cursor(
    platform: TestPlatform, document: Any
) -> None:
    response = platform.client.get(
        FEED, params={"cursor": cursor(document)}, headers=platform.headers("bodo-drift")
    )
    assert "/query/cursor" in errors(response)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


BODIES = {
    "ingest news2": ("/v1/tenants/1804/news2/records", "bodo-epj", b'{"records": [%s]}'),
    "ingest kommunale-tjenester": (
        "/v1/tenants/1804/kommunale-tjenester/records",
        "bodo-epj",
        b'{"records": [{"id": %s}]}',
    ),
    "query news2": ("/v1/news2/query", "bodo-legevakt", b'{"patients": %s}'),
    "query kommunale-tjenester": ("/v1/kommunale-tjenester/query", "bodo-legevakt", b"%s"),
    "audit query": ("/v1/tenants/1804/audit/query", "bodo-drift", b'{"patient": %s}'),
    "restrictions": ("/v1/tenants/1804/restrictions", "bodo-drift", b'{"patient": %s}'),
}


@pytest.mark.parametrize("route", sorted(BODIES))
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 5000])
def test_a_body_nested_too_deep_is_refused_with_400(
    platform: TestPlatform, route: str, depth: int
) -> None:
    url, client, template = BODIES[route]
    body = template % nested(depth)
    method = platform.client.put if route == "restrictions" else platform.client.post
    response = method(
        url, content=body, headers={**platform.headers(client), "content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    [error] = response.json()["errors"]
    assert error["pointer"].count("/") == MAX_DEPTH
    assert str(MAX_DEPTH) in error["message"]


def test_a_body_at_the_depth_limit_is_read(platform: TestPlatform) -> None:
    inner = nested(MAX_DEPTH - 1)
    body = b'{"patients": ["%s"], "x": %s}' % (ALICE.encode(), inner)
    response = post(platform, "/v1/news2/query", body, client="bodo-legevakt")
    assert "/x" in errors(response)  # the schema's complaint: the body itself was read


NUL_BODIES = [
    ({"records": [measurement("nul", location="Sone\x00Sentrum")]}, "/records/0/location"),
    ({"records": [measurement("nul\x00")]}, "/records/0/id"),
    ({"records": [{**measurement("nul"), "x\x00y": 1}]}, "/records/0/x\x00y"),
    (
        {"records": [measurement("nul", recorded_by={"name": "\x00"})]},
        "/records/0/recorded_by/name",
    ),
]


@pytest.mark.parametrize(("body", "pointer"), NUL_BODIES)
def test_u0000_anywhere_in_a_body_is_refused_at_its_pointer(
    platform: TestPlatform, body: Any, pointer: str
) -> None:
    found = errors(post(platform, "/v1/tenants/1804/news2/records", body))
    assert list(found) == [pointer]
    assert "U+0000" in found[pointer]


def test_u0000_is_refused_in_every_body(platform: TestPlatform) -> None:
    query = {"patients": [ALICE], "kommuner\x00": ["1804"]}
    assert "/kommuner\x00" in errors(post(platform, "/v1/news2/query", query, "bodo-legevakt"))
    audit = {"patient": ALICE + "\x00"}
    assert "/patient" in errors(post(platform, "/v1/tenants/1804/audit/query", audit, "bodo-drift"))
    restriction = {"patient": "\x00", "restricted": True}
    response = platform.client.put(
        "/v1/tenants/1804/restrictions",
        content=json.dumps(restriction).encode(),
        headers={**platform.headers("bodo-drift"), "content-type": "application/json"},
    )
    assert "/patient" in errors(response)


def test_an_escaped_backslash_before_u0000_is_not_a_nul(platform: TestPlatform) -> None:
    body = {"records": [measurement("backslash", location="C:\\u0000")]}
    response = post(platform, "/v1/tenants/1804/news2/records", body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "pointer", "key"),
    [
        (
            b'{"patients": ["%s"], "patients": ["%s"]}' % (ALICE.encode(), BOB.encode()),
            "",
            "patients",
        ),
        (b'{"patients": ["%s"], "hours": 1, "hours" : 2}' % ALICE.encode(), "", "hours"),
        (
            b'{"patients": ["%s"], "x": [{}, {"a": 1, "b": {"c": 1, "c": 2}}]}' % ALICE.encode(),
            "/x/1/b",
            "c",
        ),
    ],
)
def test_a_duplicate_key_is_refused_naming_the_object_and_the_key(
    platform: TestPlatform, body: bytes, pointer: str, key: str
) -> None:
    found = errors(post(platform, "/v1/news2/query", body, "bodo-legevakt"), status=400)
    assert list(found) == [pointer]
    assert f'"{key}"' in found[pointer]


def test_a_duplicate_key_in_a_record_is_refused(platform: TestPlatform) -> None:
    record = json.dumps(measurement("dup")).encode()
    body = b'{"records": [%s]}' % record.replace(b'"spo2": 97', b'"spo2": 97, "spo2": 88')
    found = errors(post(platform, "/v1/tenants/1804/news2/records", body), status=400)
    assert list(found) == ["/records/0"]
    assert '"spo2"' in found["/records/0"]


def test_quotes_and_colons_inside_strings_are_not_keys(platform: TestPlatform) -> None:
    """The duplicate check's shortcut counts ``"…:`` in the raw body; strings that look like keys
    must neither be refused nor hide a real duplicate."""
    tricky = 'a": 1, "a": 2 \\" : \\":'
    body = {"records": [measurement("tricky", location=tricky)]}
    assert post(platform, "/v1/tenants/1804/news2/records", body).status_code == 200


def test_a_record_id_with_u0000_in_the_path_is_refused(platform: TestPlatform) -> None:
    response = platform.client.delete(
        "/v1/tenants/1804/news2/records/a%00b", headers=platform.headers("bodo-epj")
    )
    assert response.status_code == 422, response.text
    assert "/path/record_id" in errors(response)
