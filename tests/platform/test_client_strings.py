"""The one rule for strings a client sends (``platform/core/strings.py``): U+0000, lone surrogates,
invalid UTF-8 and (in URLs, forms and headers) control characters are refused, naming where,
wherever a client can put a string: body, query string, path, headers, the claims of tokens,
DPoP proofs, client assertions and attestations, the token form and its
``authorization_details``, a FHIR transaction entry's URL. Issue 27 items 1, 7 and 8; issue 21
item 7."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpx2 as httpx  # what the test client answers with
import joserfc.jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import select

from journalloft.platform.auth.attestation import ATTESTATION_HEADER
from journalloft.platform.core.errors import BadRequest
from journalloft.platform.core.strings import check_request, form_pairs
from support import SERVICES, client_assertion, dpop_proof, people, tenant_document, token_form
from support.fhir import okt_episode, transaction
from support.platform import Backend, TestPlatform, start_platform
from support.security import (
    PUBLIC_URL,
    attestation_details,
    attestation_header,
    b64url,
    dpop_headers,
    dpop_token,
)

ALICE, BOB = people(2, seed="client-strings")
QUERY = "/v1/news2/query"
FEED = "/v1/tenants/1804/audit/events"
FHIR = {"Content-Type": "application/fhir+json"}
LONE = "Lege\ud800Legesen"


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø and Bærum with both services."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("strings")):
        for kommunenummer in ("1804", "3201"):
            platform.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
        yield platform


@contextlib.contextmanager
def escaping() -> Iterator[None]:
    """While the test signs a JWT: claims written with escapes (``\\ud800``), as most JSON
    libraries write them (joserfc writes them raw, and cannot encode a lone surrogate). Never
    while the platform answers: its own encoding stays as it is."""

    def convert_claims(claims: dict[str, Any], encoder_cls: Any = None) -> bytes:
        return json.dumps(claims, separators=(",", ":")).encode()

    with mock.patch.object(joserfc.jwt, "convert_claims", convert_claims):
        yield


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def pointers(response: httpx.Response, status: int) -> dict[str, str]:
    return {e["pointer"]: e["message"] for e in problem(response, status).get("errors", [])}


def look_up(platform: TestPlatform, headers: dict[str, str]) -> httpx.Response:
    return platform.client.post(QUERY, json={"patients": [ALICE]}, headers=headers)


# JWTs: every one a client sends is read by one function first (auth/keys.unverified_parts)


@pytest.mark.parametrize(
    ("details", "where"),
    [
        (attestation_details(name=LONE), "/authorization_details/0/practitioner/pid/name"),
        (attestation_details(decision_ref="beslutning\ud800"), "/decision_ref/id"),
        (attestation_details(decision_ref="beslutning\x00"), "/decision_ref/id"),
    ],
    ids=["practitioner name, lone surrogate", "decision_ref, lone surrogate", "decision_ref, NUL"],
)
def test_an_attestation_with_an_unstorable_string_is_refused_naming_where(
    platform: TestPlatform, details: dict[str, Any], where: str
) -> None:
    """Such an attestation passed validation; its audit row then failed the query path's group
    commit, and other municipalities' lookups on the same server got 503 (issue 27 item 1)."""
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "bodo-legevakt", key)
    headers = dpop_headers(token, key, "POST", QUERY)
    with escaping():
        headers[ATTESTATION_HEADER] = attestation_header(key, "bodo-legevakt", details)
    refused = problem(look_up(platform, headers), 403)
    assert refused["type"].endswith("attestation-refused")
    assert where in refused["detail"]
    fine = dpop_headers(token, key, "POST", QUERY)
    fine[ATTESTATION_HEADER] = attestation_header(key, "bodo-legevakt", attestation_details())
    assert look_up(platform, fine).status_code == 200


@pytest.mark.parametrize("name", [LONE, "Lege\x00Legesen"], ids=["lone surrogate", "NUL"])
def test_authorization_details_with_an_unstorable_string_are_refused_at_the_token_endpoint(
    platform: TestPlatform, name: str
) -> None:
    """A lone surrogate was a 500 on both stores (issue 27 item 7)."""
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    form["authorization_details"] = json.dumps([attestation_details(name=name)])
    refused = problem(platform.client.post("/oauth/token", data=form), 400)
    assert refused["error"] == "invalid_authorization_details"
    # the JSON parser names the character; the rule's own check names the member
    where = "surrogate" if name == LONE else "/0/practitioner/pid/name"
    assert where in refused["error_description"]


def test_indented_authorization_details_are_taken(platform: TestPlatform) -> None:
    """A form value may hold line breaks and tabs (JSON as a client library indents it)."""
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    form["authorization_details"] = json.dumps([attestation_details()], indent="\t")
    assert "\n\t" in form["authorization_details"]
    issued = platform.client.post("/oauth/token", data=form)
    assert issued.status_code == 200, issued.text


@pytest.mark.parametrize(
    "jti", ["proof-\ud800-jti", "proof-\x00-jti"], ids=["lone surrogate", "NUL"]
)
def test_a_dpop_proofs_unstorable_jti_is_refused(platform: TestPlatform, jti: str) -> None:
    """A lone surrogate in a proof's jti was a 500 (UnicodeEncodeError in the Redis client)."""
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "bodo-legevakt", key)
    with escaping():
        headers = dpop_headers(token, key, "POST", QUERY, jti=jti)
    refused = problem(look_up(platform, headers), 401)
    assert "/jti" in refused["detail"]
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    with escaping():
        proof = dpop_proof(key, method="POST", url=f"{PUBLIC_URL}/oauth/token", jti=jti)
    at_issuer = problem(
        platform.client.post("/oauth/token", data=form, headers={"DPoP": proof}), 400
    )
    assert at_issuer["error"] == "invalid_dpop_proof"
    assert "/jti" in at_issuer["error_description"]


@pytest.mark.parametrize(
    "claims",
    [{"jti": "a\ud800"}, {"jti": "a\x00"}, {"iss": "bodo-\udfffepj"}],
    ids=["jti lone surrogate", "jti NUL", "iss lone surrogate"],
)
def test_a_client_assertions_unstorable_claim_is_refused(
    platform: TestPlatform, claims: dict[str, Any]
) -> None:
    """A lone surrogate in an assertion's jti was a 500 (UnicodeEncodeError in the Redis client)."""
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    with escaping():
        form["client_assertion"] = client_assertion(
            "bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL, **claims
        )
    refused = problem(platform.client.post("/oauth/token", data=form), 401)
    assert refused["error"] == "invalid_client"
    assert f"/{next(iter(claims))}" in refused["error_description"]


def test_an_access_tokens_unstorable_claim_is_refused(platform: TestPlatform) -> None:
    key = ECKey.generate_key("P-256")
    with escaping():
        token = jwt.encode(
            {"alg": "ES256", "typ": "at+jwt"}, {"iss": PUBLIC_URL, "client_id": "a\ud800"}, key
        )
    refused = problem(look_up(platform, {"Authorization": f"Bearer {token}"}), 401)
    assert "/client_id" in refused["detail"]
    header = b64url(b'{"alg":"ES256","typ":"at+jwt","kid":"\\u0000"}')
    claims = b64url(b'{"iss":"x"}')
    refused = problem(look_up(platform, {"Authorization": f"Bearer {header}.{claims}.c2ln"}), 401)
    assert "header /kid" in refused["detail"]


@pytest.mark.parametrize("where", ["header", "claims"])
def test_a_member_name_with_a_lone_surrogate_is_refused_and_named_encodably(
    platform: TestPlatform, where: str
) -> None:
    """A JWT whose header or claims hold a member *named* with a lone surrogate: the refusal
    names it (its pointer written with ``\\ud800``), never a 500 from rendering the pointer."""
    header = b'{"alg":"ES256","typ":"at+jwt"' + (b',"k\\ud800":1}' if where == "header" else b"}")
    claims = b'{"iss":"x"' + (b',"k\\ud800":1}' if where == "claims" else b"}")
    token = f"{b64url(header)}.{b64url(claims)}.c2ln"
    refused = problem(look_up(platform, {"Authorization": f"Bearer {token}"}), 401)
    assert "/k\\ud800" in refused["detail"]
    form = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    form["client_assertion"] = token
    refused = problem(platform.client.post("/oauth/token", data=form), 401)
    assert "/k\\ud800" in refused["error_description"]


# Query strings, paths and headers: checked once, in the middleware, before any route


@pytest.mark.parametrize(
    ("query", "status", "pointer"),
    [
        ("since=a%00b", 422, "/query/since"),
        ("since=a%01b", 422, "/query/since"),
        ("since=%ff", 400, "/query/since"),
        ("since=%ed%a0%80", 400, "/query/since"),  # a surrogate written as UTF-8
        ("limit=1&b%00=1", 422, "/query/b\x00"),
    ],
)
def test_a_query_string_obeys_the_string_rule(
    platform: TestPlatform, query: str, status: int, pointer: str
) -> None:
    response = platform.client.get(f"{FEED}?{query}", headers=platform.headers("bodo-drift"))
    assert pointer in pointers(response, status)
    assert response.headers["content-type"] == "application/problem+json"


def test_a_query_string_beyond_ascii_is_refused() -> None:
    """Raw bytes beyond ASCII would be decoded as Latin-1 by the framework, percent-escapes as
    UTF-8: two spellings, two ids. Only the percent-escaped one is taken."""
    with pytest.raises(BadRequest) as refused:
        check_request(query="since=ø".encode(), raw_path=None, headers=[])
    assert [e.pointer for e in refused.value.errors] == ["/query"]
    check_request(query=b"since=%C3%B8", raw_path=b"/a%C3%B8", headers=[(b"x", b"a\tb\xf8")])


def test_a_path_with_a_percent_escape_that_is_not_utf8_is_refused(platform: TestPlatform) -> None:
    """It was decoded with replacement: record id ``a\\ufffd`` stood for every such id."""
    response = platform.client.delete(
        "/v1/tenants/1804/news2/records/a%ff", headers=platform.headers("bodo-epj")
    )
    assert "/path" in pointers(response, 400)
    kept = platform.client.delete(
        "/v1/tenants/1804/news2/records/a%C3%B8", headers=platform.headers("bodo-epj")
    )
    assert kept.status_code == 404  # valid UTF-8: looked up, and there is no such record


@pytest.mark.parametrize("value", [b"MyEPJ\x00/9.4", b"MyEPJ\x1b[2J", b"MyEPJ\x7f"])
def test_a_header_with_a_control_character_is_refused(platform: TestPlatform, value: bytes) -> None:
    headers = [
        *[(k.encode(), v.encode()) for k, v in platform.headers("bodo-legevakt").items()],
        (b"x-epj-system", value),
    ]
    response = platform.client.post(QUERY, json={"patients": [ALICE]}, headers=headers)
    assert "/headers/x-epj-system" in pointers(response, 400)
    tabbed = platform.client.post(
        QUERY,
        json={"patients": [ALICE]},
        headers=[*headers[:-1], (b"x-epj-system", b"My\tEPJ\xf8")],
    )
    assert tabbed.status_code == 200


@pytest.mark.parametrize(
    ("form", "field"),
    [(b"&scope=%00", "scope"), (b"&scope=%ff", "scope"), (b"&%fe=1", "")],
)
def test_the_token_form_obeys_the_string_rule(
    platform: TestPlatform, form: bytes, field: str
) -> None:
    """The form was decoded with replacement, and U+0000 passed."""
    valid = token_form("bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL)
    content = httpx.QueryParams(valid).__str__().encode() + form
    refused = problem(
        platform.client.post(
            "/oauth/token",
            content=content,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
    )
    assert refused["error"] == "invalid_request"
    assert field in refused["error_description"]


# The FHIR face: a conditional PUT's identifier and a transaction entry's URL


def put(platform: TestPlatform, identifier: str, person: str = ALICE) -> httpx.Response:
    return platform.client.put(
        f"/fhir/1804/EpisodeOfCare?identifier={identifier}",
        json=okt_episode(person),
        headers=platform.headers("bodo-epj", **FHIR),
    )


def episodes(platform: TestPlatform, person: str) -> list[str]:
    """The record ids stored for this person by the FHIR face's source."""
    table = platform.runtime.services["kommunale-tjenester"].table
    with platform.runtime.stores.tenant_engine("1804").connect() as connection:
        found = connection.execute(select(table.c.record_id).where(table.c.patient == person))
        return sorted(found.scalars())


@pytest.mark.parametrize(
    ("identifier", "status"),
    [("urn:x|a%00b", 422), ("urn:x|a%1fb", 422), ("urn:x|a%ffb", 400), ("urn:x|a%ed%a0%80", 400)],
)
def test_a_conditional_put_with_an_unstorable_identifier_is_refused(
    platform: TestPlatform, identifier: str, status: int
) -> None:
    """``a%00b`` was a 500 (DataError) on PostgreSQL and, on SQLite, a record whose id held
    U+0000 and that could never be withdrawn; ``a%ffb`` was stored as ``a\\ufffdb``."""
    (person,) = people(1, seed=f"strings-put-{identifier}")
    response = put(platform, identifier, person)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert episodes(platform, person) == []


def test_a_transaction_entry_url_is_decoded_as_a_conditional_put_is(
    platform: TestPlatform,
) -> None:
    """The entry's URL was stored still percent-encoded (``GER%2077``) while a conditional PUT
    decoded it (``GER 77``): one source id, two records (issue 27 item 8)."""
    (person,) = people(1, seed="strings-one-id")
    bundle = transaction(
        okt_episode(person), urls=["EpisodeOfCare?identifier=urn:test:gerica|GER%2077"]
    )
    headers = platform.headers("bodo-epj", **FHIR)
    stored = platform.client.post("/fhir/1804", json=bundle, headers=headers)
    assert stored.status_code == 200, stored.text
    again = put(platform, "urn:test:gerica|GER%2077", person)
    assert again.status_code == 200, again.text  # the same record, not a new one (201)
    assert episodes(platform, person) == [
        "urn:test:gerica|GER 77"
    ]  # the source's system|value (issue 23)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("EpisodeOfCare?identifier=urn:x|a%00b", "U+0000"),
        ("EpisodeOfCare?identifier=urn:x|a%ffb", "UTF-8"),
        ("EpisodeOfCare?identifier=urn:x|a&identifier=urn:x|b", "identifier=system|value"),
    ],
)
def test_a_transaction_entry_url_obeys_the_string_rule(
    platform: TestPlatform, url: str, message: str
) -> None:
    (person,) = people(1, seed=f"strings-bundle-{url}")
    bundle = transaction(okt_episode(person), urls=[url])
    response = platform.client.post(
        "/fhir/1804", json=bundle, headers=platform.headers("bodo-epj", **FHIR)
    )
    assert response.status_code == 422, response.text
    issues = response.json()["issue"]
    assert any(message in i["diagnostics"] for i in issues), issues
    assert episodes(platform, person) == []


@pytest.mark.parametrize(
    ("form", "status"), [(b"&date=%00", 422), (b"&date=%ff", 400), (b"&%ed%a0%80=1", 400)]
)
def test_a_fhir_search_form_obeys_the_string_rule(
    platform: TestPlatform, form: bytes, status: int
) -> None:
    """The search form was decoded with replacement (``%ff`` became U+FFFD)."""
    person = httpx.QueryParams({"patient:identifier": f"urn:oid:2.16.578.1.12.4.1.4.1|{ALICE}"})
    response = platform.client.post(
        "/fhir/EpisodeOfCare/_search",
        content=str(person).encode() + form,
        headers=platform.headers(
            "bodo-legevakt", **{"Content-Type": "application/x-www-form-urlencoded"}
        ),
    )
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@given(
    st.lists(
        st.tuples(st.text(max_size=8), st.text(max_size=8)).filter(
            lambda pair: not any(c < " " or c == "\x7f" for c in "".join(pair))
        ),
        max_size=4,
    ),
    st.sampled_from([quote, quote_plus]),
)
def test_the_form_decoder_reads_what_the_framework_reads(
    pairs: list[tuple[str, str]], quoting: Any
) -> None:
    """For every string the rule accepts, :func:`form_pairs` (the query string's check, the
    token form, a FHIR condition) decodes as Starlette decodes a route's query parameters."""
    query = urlencode(pairs, quote_via=quoting)
    assert form_pairs(query, prefix="/query") == parse_qsl(query, keep_blank_values=True)
