"""No 5xx for anything a client sends the faces: FHIR, OKT and the SSE stream, with generated
bodies, forms, query strings, paths and headers, on SQLite and PostgreSQL (issue 21, item 6).

The FHIR requests are not hand-picked: the generator reads the server's CapabilityStatement
(``/fhir/metadata``) for the resource types, their interactions and search parameters, and
mutates valid resources of each type anywhere in their tree. Every generated string may hold a
lone surrogate, U+0000 or other digits; forms, query strings and headers may hold bytes that are
not UTF-8. The app is served by uvicorn on a loopback port, so that what is sent is what a
client's bytes would be (and an event stream can be opened).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import people, tenant_document
from support.fhir import FNR, news2_bundle, okt_episode, transaction
from support.live import served_platform
from support.platform import Backend, TestPlatform

ALICE, BOB = people(2, seed="faces-no-server-error")
EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROBLEM = "application/problem+json"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def platform(module_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Bodø and Bærum, served over HTTP; a rate limit no run reaches; one subscription."""
    tmp: Path = tmp_path_factory.mktemp("faces-no-5xx")
    with served_platform(module_backend, tmp) as served:
        for kommunenummer in ("1804", "3201"):
            policy = {"rate_limit_per_minute": 1_000_000}
            served.onboard(tenant_document(kommunenummer, policy=policy))
        yield served


# Strings: any unicode (lone surrogates too), and the ones found to break things.

SPECIAL = st.sampled_from(
    [
        "\ud800",
        "a\udfffb",
        "\x00",
        "x\x00y",
        "²",
        "٣",
        "３",
        "9999-12-31",
        "ge9999-12-31",
        "le9999-12-31T23:59:59.999999-23:59",
        "0001-01-01T00:00:00+14:00",
        "2026-W47-7",
        "1" * 5000,
        "",
        ",",
        "|",
        "‮",
        "\ufeff",
        ALICE,
        f"{FNR}|{ALICE}",
        f"{FNR}|{ALICE}\x00",
        f"{FNR}|\ud800",
    ]
)
TEXT = st.text(st.characters(exclude_categories=()), max_size=20) | SPECIAL


def raw(text: str) -> bytes:
    """A string as bytes, a lone surrogate as its (invalid) UTF-8 encoding."""
    return text.encode("utf-8", "surrogatepass")


MOSTLY = st.sampled_from([True, True, True, True, True, False])
"""Five in six: most requests are valid but for one thing, so that they reach the code behind
the first checks."""
OTHERS = ["bodo-epj", "bodo-legevakt", "baerum-legevakt", "bodo-drift"]
BAD_BYTES = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xb2", b"%ff", b"%00", b"%"])


def encoded(text: str) -> bytes:
    """``text`` percent-encoded as UTF-8 (a lone surrogate as its invalid encoding)."""
    return quote_from_bytes(raw(text), safe="").encode()


def encoded_bytes(value: bytes) -> bytes:
    return quote_from_bytes(value, safe="").encode()


@st.composite
def spliced(draw: st.DrawFn, content: bytes) -> bytes:
    """Mostly ``content``; sometimes with a raw or undecodable byte in it."""
    if draw(MOSTLY):
        return content
    at = draw(st.integers(0, len(content)))
    return content[:at] + draw(BAD_BYTES) + content[at:]


# JSON values to put anywhere in a resource; written with json.dumps(ensure_ascii=True), so a
# lone surrogate is an escape (\ud800) in valid-looking JSON text.

LEAVES: st.SearchStrategy[Any] = (
    TEXT
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([5, True, [5], "x", -1, 1e308, 2**64, None, False, 0, []])
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)


def paths_in(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (not the root)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from paths_in(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*path, i)
            yield from paths_in(child, (*path, i))


def depth_in(path: tuple[Any, ...]) -> int:
    """How deep a place is in its resource (a Bundle entry's resource counts from itself)."""
    if len(path) > 2 and path[0] == "entry" and path[2] == "resource":
        return len(path) - 3
    return len(path)


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """``document`` with one to three places set to any value, a member added or dropped; as
    JSON text, sometimes with a key twice or undecodable bytes spliced in."""
    copied = copy.deepcopy(document)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        places = list(paths_in(copied))
        if not places:
            break
        depth = draw(st.sampled_from([1, 2, 99]))  # the elements a face reads first, mostly
        *parents, last = draw(st.sampled_from([p for p in places if depth_in(p) <= depth]))
        node: Any = copied
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["set", "set", "set", "add", "drop"]))
        if action == "drop":
            del node[last]
        elif action == "add" and isinstance(node, dict):
            node[draw(TEXT)] = draw(VALUES)
        else:
            node[last] = draw(VALUES)
    body = json.dumps(copied, ensure_ascii=True).encode()
    choice = "plain" if draw(MOSTLY) else draw(st.sampled_from(["twice", "bytes"]))
    if choice == "twice" and body.startswith(b"{"):
        body = b'{"resourceType": 5, ' + body[1:]  # a key twice
    elif choice == "bytes":
        body = draw(spliced(body))
    return body


# Headers: bytes a client can put on the wire (h11 refuses control characters and leading or
# trailing white space before sending); bytes 0x80-0xFF are obs-text, read as Latin-1.


def header_bytes(text: str) -> bytes:
    value = bytes(b for b in raw(text) if b >= 0x20 and b != 0x7F).strip(b" \t")
    return value or b"x"


HEADER_VALUES = (
    TEXT.map(header_bytes)
    | st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xb2", b"%ff", b"%00"])
    | st.sampled_from([b"\xb2-1", b"1-\xb9", b"0-0", b"99999999999999999999-1"])
)
UVICORN_REFUSED = "Invalid HTTP request received."
"""What uvicorn's HTTP parser answers (400, text/plain) for a request line it cannot parse (a
raw undecodable byte in the target): the app never sees those."""


def send(
    platform: TestPlatform,
    method: str,
    url: bytes | str,
    client: str | None,
    *,
    content: bytes = b"",
    headers: dict[str, Any] | None = None,
) -> httpx.Response:
    sent: dict[str, Any] = dict(platform.headers(client)) if client else {}
    sent.update(headers or {})
    target = url if isinstance(url, str) else url.decode("latin-1")
    return platform.client.request(method, target, content=content, headers=sent)


def assert_no_server_error(response: httpx.Response, what: Any) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if response.status_code >= 400 and response.text != UVICORN_REFUSED:
        path = response.request.url.path
        media = FHIR_JSON if path.startswith("/fhir") else PROBLEM
        assert response.headers["content-type"].startswith(media), (what, response.text[:300])


# The FHIR face, from its CapabilityStatement.


def capability(platform: TestPlatform) -> dict[str, dict[str, Any]]:
    statement = platform.client.get("/fhir/metadata").json()
    return {r["type"]: r for r in statement["rest"][0]["resource"]}


RESULT_PARAMETERS = ["_count", "_sort", "_summary", "_include", "_elements", "_total"]
"""FHIR R4's search result parameters (every server's, so not in a CapabilityStatement's
searchParam)."""


def search_value(name: str) -> st.SearchStrategy[str]:
    """Values like the parameter's own, or anything."""
    people_ = st.lists(st.sampled_from([ALICE, BOB]), min_size=1, max_size=3).map(
        lambda ps: ",".join(f"{FNR}|{p}" for p in ps)
    )
    like = {
        "patient:identifier": people_,
        "subject:identifier": people_,
        "code": st.sampled_from(["8867-4", "http://loinc.org|9279-1", "|x", "a,b", "15"]),
        "date": st.builds(
            lambda p, d: p + d,
            st.sampled_from(["", "ge", "le", "gt", "lt", "ne", "eq", "ap", "sa"]),
            SPECIAL | st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat() + "Z"),
        ),
        "status": st.sampled_from(["final", "active", "finished,onhold", ""]),
        "_sort": st.sampled_from(["date", "-date", "x"]),
        "_count": st.sampled_from(["²", "٣", "3", "10001", "-1", "1e3"]),
        "_summary": st.sampled_from(["count", "true", ""]),
    }.get(name, TEXT)
    return st.one_of(like, like, like, like, TEXT)


@st.composite
def search_requests(draw: st.DrawFn, resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(resources)) if draw(MOSTLY) else st.sampled_from(["X"]))
    names = [p["name"] for p in resources.get(kind, {}).get("searchParam", [])]
    names += RESULT_PARAMETERS
    pairs = [("patient:identifier", f"{FNR}|{ALICE}")] if draw(MOSTLY) else []
    chosen = [name for name in names if draw(st.booleans())]
    for _ in range(0 if draw(MOSTLY) else draw(st.integers(1, 2))):
        chosen.append(draw(TEXT))
    for name in chosen:
        pairs.append((name, draw(search_value(name))))
    where = draw(st.sampled_from(["", "", "", "/1804", "/1804", "/3201", "/9999"]))
    client = "bodo-legevakt" if draw(MOSTLY) else draw(st.sampled_from(OTHERS))
    if draw(st.integers(0, 2)) == 0:  # GET search: the same parameters in the query string
        query = b"&".join(encoded(n) + b"=" + encoded(v) for n, v in pairs)
        if draw(st.integers(0, 4)) == 0:  # a page link's token, made up or spliced
            query = b"_page=" + draw(TEXT.map(encoded) | st.binary(max_size=60).map(encoded_bytes))
        return {
            "method": "GET",
            "url": f"/fhir{where}/{kind}?".encode() + draw(spliced(query)),
            "client": client,
            "headers": {},
        }
    media = draw(
        st.just("application/x-www-form-urlencoded")
        if draw(MOSTLY)
        else st.sampled_from([FHIR_JSON, FHIR_JSON, "text/plain"])
    )
    if media == FHIR_JSON:
        parameters: Any = [
            {"name": n, draw(st.sampled_from(["valueString", "valueInteger", "value"])): v}
            for n, v in pairs
        ]
        if draw(st.integers(0, 4)) == 0:
            parameters = draw(VALUES)
        content = json.dumps(
            {"resourceType": "Parameters", "parameter": parameters}, ensure_ascii=True
        ).encode()
    else:
        form = b"&".join(encoded(n) + b"=" + encoded(v) for n, v in pairs)
        content = draw(spliced(form))
    return {
        "method": "POST",
        "url": f"/fhir{where}/{kind}/_search",
        "client": client,
        "content": content,
        "headers": {"content-type": media},
    }


def examples(kind: str) -> list[dict[str, Any]]:
    """Valid resources of each type the face writes, as a source sends them."""
    if kind == "EpisodeOfCare":
        return [okt_episode(ALICE)]
    bundle = news2_bundle(ALICE, "m-1")
    score = bundle["entry"][0]["resource"]
    vitals = [e["resource"] for e in bundle["entry"][1:]]
    for i, vital in enumerate(vitals):
        vital["id"] = f"v{i}"
    return [
        {**score, "contained": vitals, "hasMember": [{"reference": f"#v{i}"} for i in range(5)]}
    ]


def bundles() -> list[dict[str, Any]]:
    unit = {
        "resourceType": "Organization",
        "id": "u",
        "name": "Sone Vest",
        "contact": [{"telecom": [{"system": "phone", "value": "23101675"}]}],
    }
    episode = okt_episode(ALICE, managingOrganization={"reference": "Organization/u"})
    return [
        news2_bundle(ALICE, "m-2"),
        transaction(episode, unit, urls=["EpisodeOfCare?identifier=urn:x|e-1", "Organization"]),
    ]


IDENTIFIERS = TEXT.map(lambda v: b"urn%3Ax%7C" + encoded(v))


@st.composite
def conditions(draw: st.DrawFn) -> bytes:
    if draw(MOSTLY):
        return b"identifier=urn%3Ax%7C" + draw(st.sampled_from([b"e-1", b"m-1", b"x"]))
    parts = [b"identifier=" + draw(IDENTIFIERS)]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from([b"identifier", b"status", b"_id"]) | TEXT.map(encoded))
        parts.append(name + b"=" + encoded(draw(TEXT)))
    if not draw(MOSTLY):
        parts = [encoded(draw(TEXT))]
    return draw(spliced(b"&".join(parts)))


@st.composite
def write_requests(draw: st.DrawFn, resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    interaction = draw(
        st.sampled_from(["update", "transaction"]) if draw(MOSTLY) else st.just("delete")
    )
    client = "bodo-epj" if draw(MOSTLY) else draw(st.sampled_from(OTHERS))
    headers: dict[str, Any] = {
        "content-type": FHIR_JSON
        if draw(MOSTLY)
        else draw(st.sampled_from(["application/json", "text/x"]))
    }
    if draw(st.booleans()):
        headers["prefer"] = draw(st.just(b"return=OperationOutcome") | HEADER_VALUES)
    if interaction == "transaction":
        body = draw(st.sampled_from(bundles()).flatmap(mutated))
        return {
            "method": "POST",
            "url": "/fhir/1804",
            "client": client,
            "content": body,
            "headers": headers,
        }
    writable = [
        kind
        for kind, resource in resources.items()
        if interaction in {i["code"] for i in resource.get("interaction", [])}
    ]
    kind = draw(st.sampled_from(writable or ["EpisodeOfCare"]))
    url = b"/fhir/1804/" + kind.encode() + b"?" + draw(conditions())
    if interaction == "delete":
        return {"method": "DELETE", "url": url, "client": client, "headers": headers}
    body = draw(st.sampled_from(examples(kind)).flatmap(mutated))
    return {"method": "PUT", "url": url, "client": client, "content": body, "headers": headers}


@st.composite
def read_requests(draw: st.DrawFn, resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A read by logical id: an id of the face's grammar, its length (35 bytes), or anything."""
    kind = draw(st.sampled_from(sorted(resources)) if draw(MOSTLY) else st.sampled_from(["X"]))
    logical = draw(
        st.from_regex(r"[A-Za-z0-9.-]{1,64}", fullmatch=True)
        | st.binary(min_size=35, max_size=35).map(
            lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode().replace("_", ".")
        )
        | TEXT
    )
    where = draw(st.sampled_from(["", "", "/1804", "/3201", "/9999"]))
    url = f"/fhir{where}/{kind}/".encode() + encoded(logical)
    client = "bodo-legevakt" if draw(MOSTLY) else draw(st.sampled_from(OTHERS))
    return {"method": "GET", "url": url, "client": client, "headers": {}}


@pytest.mark.parametrize("requests", ["search", "read", "write"])
def test_the_fhir_face_answers_no_server_error(platform: TestPlatform, requests: str) -> None:
    resources = capability(platform)
    assert {"EpisodeOfCare", "Observation"} <= set(resources)
    strategy = {
        "search": search_requests,
        "read": read_requests,
        "write": write_requests,
    }[requests](resources)

    @EXAMPLES
    @given(strategy)
    def sends(request: dict[str, Any]) -> None:
        response = send(
            platform,
            request["method"],
            request["url"],
            request["client"],
            content=request.get("content", b""),
            headers=request["headers"],
        )
        assert_no_server_error(response, request)

    sends()


# OKT: the event posted, and the person named in a header or the path.

OKT_EVENT = {
    "personIdentifier": ALICE,
    "oktMessages": [
        {
            "iplosCode": {"iplosCodeLevel": "1", "iplosCodeValue": "02", "iplosParentCode": "0"},
            "startDate": "2025-09-01",
            "endDate": "2025-09-30",
            "needsCaption": True,
            "serviceDescription": "Hjemmetjeneste - praktisk bistand",
            "stayType": "korttidsopphold",
            "temporaryCessation": False,
            "weeklyExtent": "7.5",
        }
    ],
}


@st.composite
def okt_requests(draw: st.DrawFn) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if draw(st.booleans()):
        headers["kommunenummer"] = draw(st.just(b"1804") | HEADER_VALUES)
    kind = draw(st.sampled_from(["post", "header", "path"]))
    if kind == "post":
        headers["content-type"] = "application/json"
        return {
            "method": "POST",
            "url": "/okt/okt-events",
            "client": "bodo-epj" if draw(MOSTLY) else draw(st.sampled_from(OTHERS)),
            "content": draw(mutated(OKT_EVENT)),
            "headers": headers,
        }
    route = draw(st.sampled_from([b"/okt/okt-events", b"/okt/okt-status"]))
    if kind == "header":
        headers["person-id"] = draw(st.just(ALICE.encode()) | HEADER_VALUES)
    else:
        route += b"/" + draw(st.just(ALICE) | TEXT).encode("utf-8", "surrogatepass")
        route = quote_from_bytes(route, safe="/").encode()
    return {"method": "GET", "url": route, "client": "bodo-legevakt", "headers": headers}


def test_the_okt_face_answers_no_server_error(platform: TestPlatform) -> None:
    @EXAMPLES
    @given(okt_requests())
    def sends(request: dict[str, Any]) -> None:
        response = send(
            platform,
            request["method"],
            request["url"],
            request["client"],
            content=request.get("content", b""),
            headers=request["headers"],
        )
        assert_no_server_error(response, request)

    sends()


# The SSE stream: opened with any Last-Event-ID and Accept, then closed.


def test_the_event_stream_answers_no_server_error(platform: TestPlatform) -> None:
    made = platform.client.post(
        "/v1/news2/subscriptions",
        json={"patients": [ALICE, BOB]},
        headers=platform.headers("bodo-legevakt"),
    )
    assert made.status_code == 201, made.text
    subscription = made.json()["id"]

    @EXAMPLES
    @given(
        last_event_id=st.none() | HEADER_VALUES,
        accept=st.none() | HEADER_VALUES,
        which=st.sampled_from([subscription] * 4 + ["x", "\ud800", "%ff", "a" * 300]),
    )
    def opens(last_event_id: bytes | None, accept: bytes | None, which: str) -> None:
        headers: dict[str, Any] = dict(platform.headers("bodo-legevakt"))
        if last_event_id is not None:
            headers["last-event-id"] = last_event_id
        if accept is not None:
            headers["accept"] = accept
        path = "/v1/subscriptions/" + quote_from_bytes(raw(which), safe="") + "/events"
        with platform.client.stream("GET", path, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
            assert_no_server_error(response, (last_event_id, accept, which))

    opens()
