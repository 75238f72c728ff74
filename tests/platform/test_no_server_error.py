"""No 5xx for anything a client sends: generated bodies, query strings, paths and token forms with
extreme instants and offsets, deep nesting, duplicate keys, odd numbers and odd unicode, sent by
every role to every operation, on SQLite and on PostgreSQL.

Bodies are written as JSON text, not built from Python values, so that they can hold what a
serializer would never write: escaped lone surrogates, ``NaN``, 400-digit integers, a key twice.
Most start from a valid body with a few members replaced, so that they get past the schema into
the code behind it. Every refusal is problem+json.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx2 as httpx  # what the test client answers with
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journalloft.platform.auth.issuer import CLIENT_ASSERTION_TYPE
from support import client_assertion, people, sample_record, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import an_hour_ago, attestation_details, b64url

ALICE, BOB = people(2, seed="no-server-error")
PROBLEM = "application/problem+json"
ROLES = ("bodo-epj", "bodo-legevakt", "bodo-drift", "baerum-epj", "baerum-drift")
DEFAULT_RECURSION_LIMIT = 1000
ONE_IN_SIX = st.sampled_from([False, False, False, False, False, True])
"""Not ``integers(0, 5) == 0``: Hypothesis draws the bounds of a range far more often."""
EXAMPLES = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø and Bærum with both services, and a rate limit no run reaches."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("no-5xx")):
        for kommunenummer in ("1804", "3201"):
            policy = {"rate_limit_per_minute": 1_000_000}
            platform.onboard(tenant_document(kommunenummer, policy=policy))
        yield platform


def text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# JSON text fragments, each a complete JSON value (or, rarely, almost one).

OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02}:{abs(m) % 60:02}"
)
GENERATED_INSTANTS = st.builds(
    lambda moment, second, offset, zulu: (
        moment.strftime("%Y-%m-%dT%H:%M:")
        + second
        + (("Z" if zulu == "Z" else "z") if zulu else offset)
    ),
    st.datetimes(),
    st.sampled_from(["00", "59", "60", "59.999999999", "00.5"]),
    OFFSETS,
    st.sampled_from([None, "Z", "z"]),
)
INSTANTS = (
    st.sampled_from(
        [
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59.999999Z",
            "2026-12-31T23:59:60Z",
            "2099-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2026-11-22T03:00:00",
            "2026-11-22t03:00:00z",
            "2026-11-22T03:00:00+24:00",
            "2026-02-29T00:00:00Z",
            "+2026-11-22T03:00:00Z",
            "2026-W47-7T03:00:00Z",
            "２０２６-11-22T03:00:00Z",
        ]
    )
    | GENERATED_INSTANTS
)
DATES = st.sampled_from(
    ["0001-01-01", "9999-12-31", "1899-12-31", "2026-02-29", "0000-00-00", "99999-01-01"]
) | st.dates().map(str)
NUMBERS = (
    st.sampled_from(
        [
            "0",
            "-0",
            "-0.0",
            "1e-400",
            "97.0",
            "1.0",
            "2.0000000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "9" * 300,
            "0." + "0" * 5000 + "1",
            "1E+2",
        ]
    )
    | st.integers(-(2**70), 2**70).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
)
NOT_JSON_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "01"])
ESCAPED = st.sampled_from(
    [
        '"\\ud83d\\ude00"',
        '"\\u0000"',
        '"x\\u0000y"',
        '"C:\\\\u0000"',
        '"\\u202eevil\\u202c"',
        '"\\ufeff"',
        '"\\uffff"',
        '"\\/"',
    ]
)
NOT_JSON_STRINGS = st.sampled_from(
    ['"\\ud800"', '"\\udfff\\ud800"', '"a\\ud83d"', '"\\x41"', '"\\u00"', '"\t"']
)
UNSTORABLE = st.sampled_from(["\x00", "\ud800", "\udfff", "\x01", "\x1b", "\x7f"]) | st.integers(
    0xD800, 0xDFFF
).map(chr)
"""What no store can hold (U+0000, a lone surrogate) and what no URL or header may (controls).
Sent raw, a lone surrogate is invalid UTF-8 (:func:`encoded`); in JSON with ``ensure_ascii`` it
is an escape (``\\ud800``), which a JWT's claims or a token form's ``authorization_details`` can
hold."""


def any_text(max_size: int = 30) -> st.SearchStrategy[str]:
    """Text as a client may send it: any text, often with something from :data:`UNSTORABLE`."""
    half = st.text(max_size=max_size // 2)
    return st.text(max_size=max_size) | st.builds(
        lambda before, bad, after: before + bad + after, half, UNSTORABLE, half
    )


def encoded(value: str) -> bytes:
    """UTF-8, with a lone surrogate written as its (invalid) three bytes."""
    return value.encode("utf-8", errors="surrogatepass")


STRINGS = (
    any_text().map(text)
    | any_text().map(lambda s: json.dumps(s, ensure_ascii=True))
    | st.sampled_from(["😀", "שָׁלוֹם", "‮", "e\u0301", "Ａ", "\x7f", "a" * 10_000]).map(text)
    | st.sampled_from(
        [f"{ALICE}\n", "00000000000", "12345678901", "99999999999", "٠١٢٣٤٥٦٧٨٩٠"]
    ).map(text)
)
DEPTHS = st.sampled_from([1000, 1023, 33, 900, 1024, 1025, 5000])
DEEP = DEPTHS.map(lambda n: "[" * n + "]" * n) | DEPTHS.map(lambda n: '{"a":' * n + "1" + "}" * n)
LEAVES = (
    INSTANTS.map(text)
    | DATES.map(text)
    | NUMBERS
    | NOT_JSON_NUMBERS
    | ESCAPED
    | NOT_JSON_STRINGS
    | STRINGS
    | st.sampled_from(["true", "false", "null"])
)


def _object(members: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in members) + "}"


KEYS = st.sampled_from(['"a"', '"a"', '"\\u0000"', '"\\ud800"', '""', '"~1/"']) | STRINGS
STRUCTURES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.lists(st.tuples(KEYS, inner), max_size=3).map(_object)
    ),
    max_leaves=6,
)
HOSTILE = LEAVES | DEEP | STRUCTURES


def alike(value: Any) -> st.SearchStrategy[str]:
    """Values of the same kind as ``value``, to get past the schema to the code behind it."""
    if isinstance(value, bool) or value is None:
        return st.sampled_from(["true", "false", "null", "0", "1"])
    if isinstance(value, int | float):
        return NUMBERS
    if isinstance(value, str) and len(value) == 10 and value[4:5] == "-":
        return DATES.map(text)
    if isinstance(value, str) and value[4:5] == "-" and "T" in value:
        return INSTANTS.map(text)
    if isinstance(value, str):
        return STRINGS | ESCAPED
    return DEEP | STRUCTURES


MUTATIONS = st.sampled_from([1, 1, 1, 0, 2, 3])


@st.composite
def mutated(
    draw: st.DrawFn,
    template: dict[str, Any],
    *,
    nested: dict[str, Any] | None = None,
    mutations: st.SearchStrategy[int] = MUTATIONS,
) -> str:
    """``template`` as JSON text with up to three members replaced (mostly by a value of the
    same kind), added, repeated or dropped (``nested`` gives members whose value is itself
    mutated, e.g. the records of a batch)."""
    members = [(text(k), text(v)) for k, v in template.items()]
    values = list(template.values())
    for name, inner in (nested or {}).items():
        members = [(k, draw(inner) if k == text(name) else v) for k, v in members]
    for _ in range(draw(mutations)):
        action = draw(st.sampled_from(["replace", "replace", "replace", "add", "repeat", "drop"]))
        at = draw(st.integers(0, max(len(members) - 1, 0)))
        if action == "add" or not members:
            members.insert(at, (draw(KEYS), draw(HOSTILE)))
        elif action == "replace":
            like = alike(values[at]) if at < len(values) else HOSTILE
            members[at] = (members[at][0], draw(like | like | HOSTILE))
        elif action == "repeat":
            members.insert(at, (members[at][0], draw(HOSTILE)))
        else:
            members.pop(at)
        if action != "replace":
            values = []  # positions have moved: no more replacements of the same kind
    return _object(members)


@st.composite
def bodies(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> bytes:
    """Mostly a mutated valid body; sometimes anything at all, or raw bytes spliced in."""
    body = draw(HOSTILE) if draw(ONE_IN_SIX) else draw(valid)
    raw = encoded(body)
    if draw(ONE_IN_SIX):
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf"]))
        raw = raw[:at] + junk + raw[at:]
    return raw


def measurement(patient: str = ALICE) -> dict[str, Any]:
    return {
        "id": "m-1",
        "patient": patient,
        "updated": "2026-01-01T10:00:00+01:00",
        "effective": "2026-01-01T10:00:00+01:00",
        "respiration_rate": 18,
        "spo2": 97,
        "spo2_scale": 1,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": 80,
        "consciousness": "A",
        "temperature": 37.0,
        "total_score": 0,
        "recorded_by": {"name": "Kari Nordmann", "hpr": "1234567"},
        "location": "Hjemmesykepleien",
    }


def a_service(patient: str = ALICE) -> dict[str, Any]:
    return {
        "id": "s-1",
        "patient": patient,
        "updated": "2026-01-01T10:00:00+01:00",
        "service_code": "015",
        "description": "Hjemmesykepleie",
        "unit": {"name": "Hjemmetjenesten", "phone": "+47 75 55 00 00"},
        "start": "2026-01-05",
        "end": None,
        "temporary_cessation": False,
        "weekly_extent": "7 timer",
        "stay_type": None,
    }


def batch(record: Callable[[str], dict[str, Any]]) -> st.SearchStrategy[str]:
    records = st.lists(
        st.sampled_from([ALICE, BOB]).flatmap(lambda p: mutated(record(p))), min_size=1, max_size=2
    ).map(lambda rs: "[" + ",".join(rs) + "]")
    rarely = st.sampled_from([0, 0, 0, 0, 0, 1])
    return mutated({"records": []}, nested={"records": records}, mutations=rarely)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    client: str | None
    content: bytes = b""
    content_type: str = "application/json"

    def send(self, platform: TestPlatform) -> httpx.Response:
        headers = {"content-type": self.content_type}
        if self.client is not None:
            headers.update(platform.headers(self.client))
        content = self.content.replace(SIGNED.encode(), signed(platform).encode())
        return platform.client.request(self.method, self.url, content=content, headers=headers)


SIGNED = "a-client-assertion-signed-by-bodo-legevakt"
"""In a generated token form: replaced by a valid assertion when sent (the keys are the
platform's), so that what the form holds beside it is read too."""


def signed(platform: TestPlatform) -> str:
    key = platform.key("bodo-legevakt")
    return client_assertion("bodo-legevakt", key, audience="http://testserver")


def clients(right: str) -> st.SearchStrategy[str | None]:
    """Mostly the role the operation is for; sometimes another, or none."""
    return st.just(right) | st.just(right) | st.just(right) | st.sampled_from([*ROLES, None])


def posting(url: str, right: str, valid: st.SearchStrategy[str]) -> st.SearchStrategy[Request]:
    return st.builds(Request, st.just("POST"), st.just(url), clients(right), bodies(valid))


PATIENTS = st.sampled_from([ALICE, BOB])
RECORD_IDS = any_text(140).map(
    lambda s: quote(s, safe="", errors="surrogatepass")
) | st.sampled_from(["m-1", "s-1", "a%00b", "%ff", "%ed%a0%80", "%2F", "..", "%2e%2e", "a" * 129])


@st.composite
def feed_params(draw: st.DrawFn) -> str:
    params: dict[str, str] = {}
    if draw(st.booleans()):
        params["since"] = draw(INSTANTS | any_text(40) | DATES)
    if draw(st.booleans()):
        document = draw(
            st.fixed_dictionaries({"t": INSTANTS, "i": NUMBERS}).map(
                lambda d: '{"t":' + text(d["t"]) + ',"i":' + d["i"] + "}"
            )
            | HOSTILE
        )
        cursor = base64.urlsafe_b64encode(encoded(document)).rstrip(b"=").decode()
        params["cursor"] = draw(st.just(cursor) | any_text(40))
    if draw(st.booleans()):
        params["limit"] = draw(NUMBERS | any_text(5))
    if draw(st.booleans()):
        params["break_the_glass"] = draw(st.sampled_from(["true", "0", "yes", "\x00", "ja"]))
    raw = draw(st.sampled_from(["", "", "", "&since=%ff", "&cursor=%ed%a0%80", "&%fe=1", "&a=%0a"]))
    return urlencode(params, errors="surrogatepass") + raw


@st.composite
def assertions(draw: st.DrawFn) -> str:
    """Client assertions: text, or JWT-shaped with hostile header and claims (unsigned).

    Without what the auth code is known to fail on (the tests at the end of this module): claims
    nested deeper than Python's JSON parser goes."""
    if draw(st.booleans()):
        return draw(any_text(60))
    claims = draw(mutated({"iss": "bodo-epj", "sub": "bodo-epj", "aud": "http://testserver"}))
    header = draw(mutated({"alg": "ES256", "typ": "JWT", "kid": "x"}))
    if claims.count("[") + claims.count("{") > 500:
        claims = text({"iss": "bodo-epj", "sub": "bodo-epj"})
    signature = draw(st.sampled_from(["", "c2ln", "!!"]))
    return f"{b64url(encoded(header))}.{b64url(encoded(claims))}.{signature}"


@st.composite
def token_requests(draw: st.DrawFn) -> Request:
    """Token requests: half of them a valid client's (:data:`SIGNED`) with what else the form
    holds generated, so that it is read too; half with anything in every field."""
    details = attestation_details(name=draw(any_text()))
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": SIGNED,
        "authorization_details": draw(
            st.just(json.dumps([details])) | st.just(text([details])) | mutated(details) | HOSTILE
        ),
    }
    if draw(st.booleans()):
        form = {
            "grant_type": draw(
                st.sampled_from(["client_credentials"] * 4 + ["password"]) | any_text()
            ),
            "client_assertion_type": draw(
                st.just(CLIENT_ASSERTION_TYPE) | st.just(CLIENT_ASSERTION_TYPE) | any_text(20)
            ),
            "client_assertion": draw(assertions()),
        }
        for name in ("scope", "client_id", "authorization_details"):
            if draw(st.booleans()):
                form[name] = draw(any_text() | HOSTILE)
    content = urlencode(form, errors="surrogatepass").encode()
    if draw(ONE_IN_SIX):
        content += draw(
            st.sampled_from([b"&%ff=%fe", b"&scope=%00", b"&&=", b"\xff\xfe", b"&scope=%ed%a0%80"])
        )
    media = draw(st.sampled_from(["application/x-www-form-urlencoded"] * 4 + ["application/json"]))
    return Request("POST", "/oauth/token", None, content, media)


SERVICES = ("news2", "kommunale-tjenester")
OPERATIONS: dict[str, st.SearchStrategy[Request]] = {
    "ingest news2": posting("/v1/tenants/1804/news2/records", "bodo-epj", batch(measurement)),
    "ingest kommunale-tjenester": posting(
        "/v1/tenants/1804/kommunale-tjenester/records", "bodo-epj", batch(a_service)
    ),
    "withdraw": st.builds(
        lambda service, record_id, client: Request(
            "DELETE", f"/v1/tenants/1804/{service}/records/{record_id}", client
        ),
        st.sampled_from(SERVICES),
        RECORD_IDS,
        clients("bodo-epj"),
    ),
    "query news2": posting(
        "/v1/news2/query",
        "bodo-legevakt",
        mutated({"patients": [ALICE, BOB], "kommuner": ["1804"], "hours": 24}),
    ),
    "query kommunale-tjenester": posting(
        "/v1/kommunale-tjenester/query",
        "bodo-legevakt",
        mutated({"patients": [ALICE], "include_ended": True}),
    ),
    "audit query": posting(
        "/v1/tenants/1804/audit/query",
        "bodo-drift",
        PATIENTS.flatmap(lambda p: mutated({"patient": p})),
    ),
    "audit events": st.builds(
        lambda params, client: Request("GET", f"/v1/tenants/1804/audit/events?{params}", client),
        feed_params(),
        clients("bodo-drift"),
    ),
    "restrictions": st.builds(
        Request,
        st.just("PUT"),
        st.just("/v1/tenants/1804/restrictions"),
        clients("bodo-drift") | st.just("bodo-epj"),
        bodies(PATIENTS.flatmap(lambda p: mutated({"patient": p, "restricted": True}))),
    ),
    "token": token_requests(),
}

# The Diagnoser service and the live subscriptions' operations (their event streams are sent to
# in the SSE part, which holds a stream open).


def a_diagnosis(patient: str = ALICE) -> dict[str, Any]:
    return sample_record("diagnoser", "d-1", patient, at=an_hour_ago())


SUBSCRIBED = ("news2", "kommunale-tjenester", "diagnoser")
SUBSCRIPTION_IDS = st.uuids().map(str) | RECORD_IDS
OPERATIONS |= {
    "ingest diagnoser": posting(
        "/v1/tenants/1804/diagnoser/records", "bodo-epj", batch(a_diagnosis)
    ),
    "query diagnoser": posting(
        "/v1/diagnoser/query",
        "bodo-legevakt",
        mutated({"patients": [ALICE, BOB], "kommuner": ["1804"]}),
    ),
    "subscribe": st.sampled_from(SUBSCRIBED).flatmap(
        lambda service: posting(
            f"/v1/{service}/subscriptions",
            "bodo-legevakt",
            mutated({"patients": [ALICE], "kommuner": ["1804"]}),
        )
    ),
    "subscriptions": st.builds(
        lambda service, client: Request("GET", f"/v1/{service}/subscriptions", client),
        st.sampled_from(SUBSCRIBED),
        clients("bodo-legevakt"),
    ),
    "replace a subscription": st.builds(
        lambda service, subscription, client, content: Request(
            "PUT", f"/v1/{service}/subscriptions/{subscription}", client, content
        ),
        st.sampled_from(SUBSCRIBED),
        SUBSCRIPTION_IDS,
        clients("bodo-legevakt"),
        bodies(mutated({"patients": [BOB]})),
    ),
    "end a subscription": st.builds(
        lambda service, subscription, client: Request(
            "DELETE", f"/v1/{service}/subscriptions/{subscription}", client
        ),
        st.sampled_from(SUBSCRIBED),
        SUBSCRIPTION_IDS,
        clients("bodo-legevakt"),
    ),
}


@contextlib.contextmanager
def production_recursion_limit() -> Iterator[None]:
    """Python's default recursion limit, as the server runs with: Hypothesis raises it while it
    runs a test, which would hide a RecursionError (a 1000-deep body passed then)."""
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(raised)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_operation_answers_a_server_error(platform: TestPlatform, operation: str) -> None:
    @EXAMPLES
    @given(OPERATIONS[operation])
    def sends(request: Request) -> None:
        with production_recursion_limit():
            response = request.send(platform)
        assert response.status_code < 500, (request, response.text)
        if response.status_code >= 400 and request.url == "/oauth/token":
            # RFC 6749 §5.2: the token endpoint's errors are application/json with "error"
            assert response.headers["content-type"] == "application/json", request
            assert response.json()["error"], (request, response.text)
        elif response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM, (request, response.text)

    sends()


# Found by the property test in the auth code, now fixed: each reproduces one attack.

DEEP_JSON = b"[" * 1000 + b"]" * 1000


def form_with(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def test_a_nul_in_a_client_assertions_iss_is_no_server_error(
    platform: TestPlatform, request: pytest.FixtureRequest
) -> None:
    """The issuer looks the unverified ``iss`` up in the platform store before it checks the
    signature; on PostgreSQL a U+0000 in it fails the query (500)."""
    header = b64url(b'{"alg":"ES256","typ":"JWT"}')
    claims = b64url(b'{"iss":"a\\u0000b","sub":"a\\u0000b"}')
    response = platform.client.post("/oauth/token", data=form_with(f"{header}.{claims}.c2ln"))
    assert response.status_code == 401


def test_a_nul_in_a_tokens_attestation_is_no_server_error(
    platform: TestPlatform, request: pytest.FixtureRequest
) -> None:
    """The built-in issuer puts a practitioner name with U+0000 into the token; on PostgreSQL
    every lookup with that token then fails to write its audit event (503)."""
    details = attestation_details(name="Lege\x00Legesen")
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience="http://testserver")
    form["authorization_details"] = json.dumps([details])
    issued = platform.client.post("/oauth/token", data=form)
    if issued.status_code != 200:
        return  # refused at the token endpoint: no server error either
    token = issued.json()["access_token"]
    response = platform.client.post(
        "/v1/news2/query", json={"patients": [ALICE]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code < 500, response.text


def test_a_deep_jwt_payload_is_no_server_error(
    platform: TestPlatform, request: pytest.FixtureRequest
) -> None:
    """A JWT's payload is parsed with ``json.loads`` before anything is verified, and its
    RecursionError is not caught: a 500 for a bearer token anyone can send, on every route."""
    header = b64url(b'{"alg":"ES256","typ":"at+jwt"}')
    token = f"{header}.{b64url(DEEP_JSON)}.c2ln"
    looked_up = platform.client.post(
        "/v1/news2/query", json={"patients": [ALICE]}, headers={"Authorization": f"Bearer {token}"}
    )
    asserted = platform.client.post("/oauth/token", data=form_with(token))
    assert (looked_up.status_code, asserted.status_code) == (401, 401)


def test_deep_authorization_details_are_no_server_error(
    platform: TestPlatform, request: pytest.FixtureRequest
) -> None:
    """The token request's ``authorization_details`` are parsed with ``json.loads`` and its
    RecursionError is not caught (500)."""
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience="http://testserver")
    form["authorization_details"] = DEEP_JSON.decode()
    response = platform.client.post("/oauth/token", data=form)
    assert response.status_code == 400, response.text
