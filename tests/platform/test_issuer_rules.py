"""The built-in issuer's rules, each refusal with its RFC 6749 §5.2 error code, its status and its
words, and what an issued token says.

- Every refusal of the token endpoint: ``invalid_request``, ``unsupported_grant_type``,
  ``invalid_client`` (401 with a challenge, for each way a client assertion fails),
  ``invalid_scope``, ``invalid_authorization_details``, ``invalid_dpop_proof``.
- The assertion's ``nbf`` (or its ``iat`` in its place) at most 30 s (the skew) ahead, on both
  sides of the edge; its ``exp`` present, a number, not past (with the skew), at most 60 s ahead;
  its ``jti`` a non-empty string, remembered for 150 s and no longer.
- The issued token: its claims (``iat`` = ``nbf`` = now, ``exp`` = now + the lifetime), the
  token's ``nbf`` and ``exp`` on both sides of their edges as the platform verifies them, the
  scopes a client may get, the discovery document, the JWKS (public members only), the
  development key file (0600, its directory made).

The clock is the test's: the issuer takes ``now``, the replay cache a clock the test moves.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from journalloft.platform.auth import issuer as issuer_module
from journalloft.platform.auth.clients import add_key, register_client
from journalloft.platform.auth.dpop import verify_dpop_proof
from journalloft.platform.auth.issuer import (
    CLIENT_ASSERTION_TYPE,
    BuiltinIssuer,
    load_signing_key,
)
from journalloft.platform.auth.keys import ASYMMETRIC_ALGORITHMS, CLOCK_SKEW_SECONDS
from journalloft.platform.auth.tokens import (
    AUDIT_READ_SCOPE,
    METRICS_SCOPE,
    ORGNR_PARENT,
    RESTRICTIONS_SCOPE,
    TokenVerifier,
)
from journalloft.platform.core.errors import OAuthError, Unauthorized
from journalloft.platform.storage.kv import MemoryKeyValue
from support import SERVICES, dpop_proof, tenant_document
from support.platform import Backend, TestRuntime, make_settings, start_runtime
from support.security import attestation_details

T = 1_900_000_000
"""The instant of each request: fixed, far from the test's own clock."""
CLIENT = "bodo-legevakt"
OMNI = "omni-client"
"""Registered by the platform operator as an admin, and in Bodø a source, consumer and operator."""
KEYLESS = "keyless-client"
NOT_AUTHENTICATED = "the client could not be authenticated with this assertion"
BODO_ORGNR = tenant_document("1804")["organisasjonsnummer"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRuntime]:
    """Bodø, and OMNI registered by the platform operator as an admin before Bodø names it."""
    backend = Backend("sqlite", None, None)
    for platform in start_runtime(backend, tmp_path_factory.mktemp("issuer")):
        omni_key = platform.keys.setdefault(OMNI, ECKey.generate_key("P-256", auto_kid=True))
        with platform.runtime.stores.platform_engine.begin() as connection:
            register_client(connection, client_id=OMNI, name="Omni", admin=True)
            register_client(connection, client_id=KEYLESS, name="No keys", admin=False)
            add_key(connection, client_id=OMNI, jwk=omni_key.as_dict(private=False))
        document = tenant_document("1804")
        document["sources"].append({"client_id": OMNI, "name": "Omni", "services": ["news2"]})
        document["consumers"].append({"client_id": OMNI, "name": "Omni", "services": ["news2"]})
        document["operators"].append({"client_id": OMNI, "name": "Omni"})
        platform.onboard(document)
        yield platform


@pytest.fixture
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture
def issuer(platform: TestRuntime, signing_key: ECKey) -> BuiltinIssuer:
    runtime = platform.runtime
    return BuiltinIssuer(
        settings=runtime.settings,
        stores=runtime.stores,
        tenants=runtime.tenants,
        replay=MemoryKeyValue(),
        key=signing_key,
    )


def assertion(
    platform: TestRuntime,
    client: str = CLIENT,
    *,
    key: ECKey | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A client assertion valid at ``T`` unless the claims say otherwise (None: left out)."""
    key = key or platform.key(client)
    payload: dict[str, Any] = {
        "iss": client,
        "sub": client,
        "aud": platform.runtime.settings.issuer_url,
        "iat": T,
        "exp": T + 30,
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid, **(header or {})}, payload, key)


def unsigned(**header: Any) -> str:
    """A compact JWT with this header, any claims and no real signature: refused before any
    signature is checked."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'iss': CLIENT, 'sub': CLIENT})}.c2lnbmF0dXJl"


def form(platform: TestRuntime, client: str = CLIENT, /, **fields: str | None) -> dict[str, str]:
    request: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion(platform, client),
    }
    request.update(fields)
    return {k: v for k, v in request.items() if v is not None}


def refusal(issuer: BuiltinIssuer, request: dict[str, str], dpop: str | None = None) -> OAuthError:
    with pytest.raises(OAuthError) as refused:
        issuer.token(request, dpop=dpop, now=T)
    return refused.value


def assert_refused(refused: OAuthError, error: str, status: int, words: str) -> None:
    assert (refused.error, refused.status, refused.detail) == (error, status, words)
    assert refused.extra == {"error": error, "error_description": words}
    challenge = {"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else {}
    assert refused.headers == challenge


# --- the request's form -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error", "status", "words"),
    [
        ({"grant_type": None}, "invalid_request", 400, "grant_type is required"),
        ({"grant_type": ""}, "invalid_request", 400, "grant_type is required"),
        (
            {"grant_type": "password"},
            "unsupported_grant_type",
            400,
            "only client_credentials is supported",
        ),
        (
            {"client_assertion_type": None},
            "invalid_client",
            401,
            f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
        ),
        (
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            "invalid_client",
            401,
            f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
        ),
        ({"client_assertion": None}, "invalid_client", 401, "the client assertion is not a JWT"),
        ({"client_assertion": "a.b"}, "invalid_client", 401, "the client assertion is not a JWT"),
        (
            {"client_id": "bodo-epj"},
            "invalid_client",
            401,
            "client_id does not match the assertion",
        ),
        (
            {"scope": "news2:read audit:read news2:write"},
            "invalid_scope",
            400,
            "scopes not granted to this client: audit:read news2:write",
        ),
        ({"scope": "admin"}, "invalid_scope", 400, "scopes not granted to this client: admin"),
        (
            {"authorization_details": json.dumps([{"type": "something-else"}])},
            "invalid_authorization_details",
            400,
            "only authorization_details of type nhn:tillitsrammeverk:parameters are issued",
        ),
    ],
)
def test_each_refusal_of_the_form_has_its_error_status_and_words(
    platform: TestRuntime,
    issuer: BuiltinIssuer,
    fields: dict[str, str | None],
    error: str,
    status: int,
    words: str,
) -> None:
    assert_refused(refusal(issuer, form(platform, **fields)), error, status, words)


def test_a_client_id_in_the_form_must_be_the_assertions(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    assert issuer.token(form(platform, client_id=CLIENT), dpop=None, now=T)["access_token"]
    assert issuer.token(form(platform), dpop=None, now=T)["access_token"]


def test_a_client_without_any_grant_is_refused_every_scope(
    platform: TestRuntime, issuer: BuiltinIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(issuer, "allowed_scopes", lambda client_id, *, admin: set())
    assert_refused(
        refusal(issuer, form(platform)),
        "invalid_scope",
        400,
        "scopes not granted to this client: (none granted)",
    )


def test_a_bad_attestation_is_refused_with_its_reason(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    details = json.dumps([attestation_details(purpose="NOT-A-PURPOSE")])
    refused = refusal(issuer, form(platform, authorization_details=details))
    assert (refused.error, refused.status) == ("invalid_authorization_details", 400)
    assert "purpose" in refused.detail


def test_a_bad_dpop_proof_is_refused_with_the_proofs_reason(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    key = ECKey.generate_key("P-256")
    wrong_url = dpop_proof(key, method="POST", url="https://elsewhere.example/token", iat=T)
    refused = refusal(issuer, form(platform), dpop=wrong_url)
    with pytest.raises(Unauthorized) as proof:
        verify_dpop_proof(
            wrong_url,
            method="POST",
            url=issuer.token_endpoint,
            access_token=None,
            replay=MemoryKeyValue(),
            now=T,
        )
    assert_refused(refused, "invalid_dpop_proof", 400, proof.value.detail)


# --- the client assertion -----------------------------------------------------------------------


def test_each_refusal_of_the_assertion_is_invalid_client_401_with_its_words(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    other_key = ECKey.generate_key("P-256", auto_kid=True)
    url = platform.runtime.settings.issuer_url
    cases: list[tuple[str, str]] = [
        (assertion(platform, iss="bad client"), NOT_AUTHENTICATED),
        (assertion(platform, iss=None), "the assertion's iss and sub must both be the client_id"),
        (
            assertion(platform, sub="bodo-epj"),
            "the assertion's iss and sub must both be the client_id",
        ),
        (unsigned(alg="HS256"), "the assertion's algorithm is not accepted"),
        (unsigned(alg="none"), "the assertion's algorithm is not accepted"),
        (
            assertion(platform, header={"typ": "at+jwt"}),
            "the assertion's typ must be client-authentication+jwt",
        ),
        (assertion(platform, "nobody-registered", key=other_key), NOT_AUTHENTICATED),
        (assertion(platform, KEYLESS, key=other_key), NOT_AUTHENTICATED),
        (assertion(platform, key=other_key), NOT_AUTHENTICATED),
        (
            assertion(platform, aud="https://someone-else.example"),
            "the assertion's aud must be the issuer",
        ),
        (assertion(platform, aud=[url + "/elsewhere"]), "the assertion's aud must be the issuer"),
        (assertion(platform, exp=None), "the assertion has expired"),
        (assertion(platform, exp=str(T + 30)), "the assertion has expired"),
        (assertion(platform, iat=None, exp=T - 31), "the assertion has expired"),
        (assertion(platform, iat=None, exp=T + 91), "the assertion's exp is more than 60 s ahead"),
        (assertion(platform, iat=T, exp=T + 61), "the assertion's exp is more than 60 s ahead"),
        (assertion(platform, nbf=T + 31, exp=T + 60), "the assertion is not valid yet"),
        (assertion(platform, iat=T + 31, exp=T + 60), "the assertion is not valid yet"),
        (assertion(platform, jti=None), "the assertion needs a jti"),
        (assertion(platform, jti=""), "the assertion needs a jti"),
        (assertion(platform, jti=7), "the assertion needs a jti"),
        (
            assertion(platform, note="\x00"),
            "the client assertion's claim /note contains U+0000 (NUL), which is not accepted",
        ),
    ]
    for token, words in cases:
        refused = refusal(issuer, form(platform, client_assertion=token))
        assert_refused(refused, "invalid_client", 401, words)


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": None, "exp": T + 90},  # exp 60 s ahead and 30 s of skew
        {"iat": None, "exp": T - 30},  # expired 30 s ago: within the skew
        {"iat": T, "exp": T + 60},  # 60 s from iat
        {"iat": T - 30, "exp": T + 30},
    ],
    ids=["exp 90 s ahead", "exp 30 s ago", "60 s from iat", "iat 30 s ago"],
)
def test_an_assertion_on_the_edge_of_each_window_is_accepted(
    platform: TestRuntime, issuer: BuiltinIssuer, claims: dict[str, Any]
) -> None:
    token = assertion(platform, **claims)
    assert issuer.token(form(platform, client_assertion=token), dpop=None, now=T)["access_token"]


@pytest.mark.parametrize("typ", [None, "JWT", "client-authentication+jwt"])
def test_an_assertion_of_each_accepted_typ_is_accepted(
    platform: TestRuntime, issuer: BuiltinIssuer, typ: str | None
) -> None:
    token = assertion(platform, header={} if typ is None else {"typ": typ})
    assert issuer.token(form(platform, client_assertion=token), dpop=None, now=T)["access_token"]


@pytest.mark.parametrize("audience", ["issuer", "token endpoint", "list"])
def test_an_assertion_may_name_the_issuer_or_its_token_endpoint(
    platform: TestRuntime, issuer: BuiltinIssuer, audience: str
) -> None:
    aud: Any = {
        "issuer": issuer.url,
        "token endpoint": issuer.token_endpoint,
        "list": ["https://someone-else.example", issuer.token_endpoint],
    }[audience]
    token = assertion(platform, aud=aud)
    assert issuer.token(form(platform, client_assertion=token), dpop=None, now=T)["access_token"]


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"nbf": T + CLOCK_SKEW_SECONDS - 1, "exp": T + 60}, True),
        ({"nbf": T + CLOCK_SKEW_SECONDS, "exp": T + 60}, True),
        ({"nbf": T + CLOCK_SKEW_SECONDS + 1, "exp": T + 60}, False),
        ({"iat": T + CLOCK_SKEW_SECONDS, "exp": T + 60}, True),
        ({"iat": T + CLOCK_SKEW_SECONDS + 1, "exp": T + 60}, False),
        # nbf, when given, is what says from when the assertion is valid, not iat
        ({"nbf": T, "iat": T + CLOCK_SKEW_SECONDS + 1, "exp": T + 60}, True),
        ({"nbf": T + CLOCK_SKEW_SECONDS + 1, "iat": T, "exp": T + 60}, False),
    ],
)
def test_an_assertion_is_valid_from_its_nbf_or_iat_with_30_s_of_skew(
    platform: TestRuntime, issuer: BuiltinIssuer, claims: dict[str, Any], accepted: bool
) -> None:
    request = form(platform, client_assertion=assertion(platform, **claims))
    if accepted:
        assert issuer.token(request, dpop=None, now=T)["access_token"]
    else:
        assert_refused(
            refusal(issuer, request), "invalid_client", 401, "the assertion is not valid yet"
        )


def test_an_unknown_clients_assertion_is_refused_even_if_it_verifies_against_the_decoy(
    platform: TestRuntime, issuer: BuiltinIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoy key only makes an unknown client's refusal cost what a known one's does; a
    client without keys is never authenticated, whatever its assertion is signed with."""
    decoy = ECKey.generate_key("P-256", auto_kid=True)
    monkeypatch.setattr(
        issuer_module, "_DECOY_KEYS", KeySet.import_key_set({"keys": [decoy.as_dict()]})
    )
    for client in ("nobody-registered", KEYLESS):
        token = assertion(platform, client, key=decoy)
        refused = refusal(issuer, form(platform, client_assertion=token))
        assert_refused(refused, "invalid_client", 401, NOT_AUTHENTICATED)


def test_an_assertions_jti_is_remembered_150_s_and_no_longer(
    platform: TestRuntime, signing_key: ECKey
) -> None:
    """60 s of lifetime and three times the skew: the cache covers the 120 s an assertion can be
    accepted, and is bounded."""
    clock = Clock()
    runtime = platform.runtime
    issuer = BuiltinIssuer(
        settings=runtime.settings,
        stores=runtime.stores,
        tenants=runtime.tenants,
        replay=MemoryKeyValue(clock),
        key=signing_key,
    )
    request = form(platform)
    issuer.token(request, dpop=None, now=T)
    clock.now += 149
    assert_refused(
        refusal(issuer, request), "invalid_client", 401, "the assertion has been used before"
    )
    clock.now += 1
    assert issuer.token(request, dpop=None, now=T)["access_token"]


# --- the issued token -----------------------------------------------------------------------------


def issued_claims(issuer: BuiltinIssuer, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    verified = jwt.decode(token, issuer.issuer_keys().key_set(None), algorithms=["ES256"])
    return dict(verified.header), dict(verified.claims)


def test_an_issued_token_says_who_for_whom_what_and_when(
    platform: TestRuntime, issuer: BuiltinIssuer, signing_key: ECKey
) -> None:
    settings = platform.runtime.settings
    answer = issuer.token(form(platform, scope="news2:read"), dpop=None, now=T + 0.75)
    header, claims = issued_claims(issuer, answer["access_token"])
    assert header == {"alg": "ES256", "kid": signing_key.kid, "typ": "at+jwt"}
    jti = claims.pop("jti")
    assert isinstance(jti, str)
    assert len(jti) == 32
    assert int(jti, 16) >= 0
    assert claims == {
        "iss": settings.issuer_url,
        "sub": CLIENT,
        "aud": settings.audience,
        "client_id": CLIENT,
        "scope": "news2:read",
        "iat": T,
        "nbf": T,
        "exp": T + settings.access_token_lifetime_seconds,
        ORGNR_PARENT: BODO_ORGNR,
    }
    assert {k: v for k, v in answer.items() if k != "access_token"} == {
        "token_type": "Bearer",
        "expires_in": settings.access_token_lifetime_seconds,
        "scope": "news2:read",
    }
    again = issuer.token(form(platform, scope="news2:read"), dpop=None, now=T)
    assert issued_claims(issuer, again["access_token"])[1]["jti"] != jti


def test_the_scopes_granted_are_named_once_each_sorted_and_space_separated(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    request = form(platform, scope="news2:read  diagnoser:read news2:read")
    answer = issuer.token(request, dpop=None, now=T)
    assert answer["scope"] == "diagnoser:read news2:read"
    assert issued_claims(issuer, answer["access_token"])[1]["scope"] == answer["scope"]
    everything = issuer.token(form(platform), dpop=None, now=T)["scope"]
    assert everything == " ".join(sorted(issuer.allowed_scopes(CLIENT, admin=False)))


def test_without_now_the_issuer_reads_the_clock(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    before = int(time.time())
    token = assertion(platform, iat=before, exp=before + 30)
    answer = issuer.token(form(platform, client_assertion=token), dpop=None)
    after = int(time.time())
    assert before <= issued_claims(issuer, answer["access_token"])[1]["iat"] <= after


def test_a_dpop_bound_token_is_of_type_dpop_and_names_the_key(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    key = ECKey.generate_key("P-256")
    proof = dpop_proof(key, method="POST", url=issuer.token_endpoint, iat=T)
    answer = issuer.token(form(platform), dpop=proof, now=T)
    assert answer["token_type"] == "DPoP"
    assert issued_claims(issuer, answer["access_token"])[1]["cnf"] == {"jkt": key.thumbprint()}


def test_a_token_asked_with_an_attestation_carries_it_without_national_ids(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    details = json.dumps([attestation_details()])
    answer = issuer.token(form(platform, authorization_details=details), dpop=None, now=T)
    [carried] = issued_claims(issuer, answer["access_token"])[1]["authorization_details"]
    assert carried["type"] == "nhn:tillitsrammeverk:parameters"
    assert "pid" not in json.dumps(carried)


@pytest.mark.parametrize(
    ("edge", "delta", "accepted", "words"),
    [
        ("nbf", -CLOCK_SKEW_SECONDS - 1, False, "in the future"),
        ("nbf", -CLOCK_SKEW_SECONDS, True, ""),
        ("nbf", 0, True, ""),
        ("exp", 0, True, ""),
        ("exp", CLOCK_SKEW_SECONDS - 1, True, ""),
        ("exp", CLOCK_SKEW_SECONDS, False, "expired"),
    ],
)
def test_an_issued_token_is_valid_from_nbf_to_exp_with_30_s_of_skew(
    platform: TestRuntime,
    issuer: BuiltinIssuer,
    edge: str,
    delta: int,
    accepted: bool,
    words: str,
) -> None:
    """The issued ``nbf`` (= ``iat``) and ``exp`` as the platform's verifier holds them: from 30 s
    before ``nbf`` to 30 s after ``exp`` (RFC 7519: expired at ``exp``), not a second more (too
    early, joserfc names the ``iat``, checked before the equal ``nbf``)."""
    lifetime = platform.runtime.settings.access_token_lifetime_seconds
    at = T + delta + (lifetime if edge == "exp" else 0)
    token = issuer.token(form(platform), dpop=None, now=T)["access_token"]
    verifier = TokenVerifier([issuer.issuer_keys()], now=lambda: at)
    if accepted:
        assert verifier.verify(token)[0]["sub"] == CLIENT
    else:
        with pytest.raises(Unauthorized, match=words):
            verifier.verify(token)


def test_the_issuers_keys_hold_its_tokens_to_its_audience(
    issuer: BuiltinIssuer, signing_key: ECKey
) -> None:
    claims = {"iss": issuer.url, "sub": CLIENT, "client_id": CLIENT, "exp": T + 60, "iat": T}
    header = {"alg": "ES256", "kid": signing_key.kid, "typ": "at+jwt"}
    verifier = TokenVerifier([issuer.issuer_keys()], now=lambda: T)
    assert verifier.verify(jwt.encode(header, {**claims, "aud": issuer.audience}, signing_key))
    with pytest.raises(Unauthorized, match="aud"):
        verifier.verify(jwt.encode(header, {**claims, "aud": "https://else.example"}, signing_key))


# --- what a client may get ----------------------------------------------------------------------


def test_the_scopes_a_client_may_get_follow_its_roles(issuer: BuiltinIssuer) -> None:
    reads = {f"{s}:read" for s in SERVICES}
    writes = {f"{s}:write" for s in SERVICES}
    assert issuer.allowed_scopes(CLIENT, admin=False) == reads
    assert issuer.allowed_scopes("bodo-epj", admin=False) == writes | {RESTRICTIONS_SCOPE}
    assert issuer.allowed_scopes("bodo-drift", admin=False) == {
        AUDIT_READ_SCOPE,
        RESTRICTIONS_SCOPE,
    }
    assert issuer.allowed_scopes(OMNI, admin=True) == {
        "admin",
        METRICS_SCOPE,
        "news2:read",
        "news2:write",
        AUDIT_READ_SCOPE,
        RESTRICTIONS_SCOPE,
    }
    assert issuer.allowed_scopes("nobody-registered", admin=False) == set()


def test_an_admin_client_gets_admin_and_an_operators_token_names_no_organisation(
    platform: TestRuntime, issuer: BuiltinIssuer
) -> None:
    answer = issuer.token(form(platform, OMNI, scope="admin"), dpop=None, now=T)
    claims = issued_claims(issuer, answer["access_token"])[1]
    assert claims["scope"] == "admin"
    assert ORGNR_PARENT not in claims  # the platform operator registered (owns) it


def test_the_discovery_document(issuer: BuiltinIssuer) -> None:
    document = issuer.metadata(["news2:read", "admin"])
    assert document == {
        "issuer": issuer.url,
        "token_endpoint": issuer.url + "/oauth/token",
        "jwks_uri": issuer.url + "/oauth/jwks",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "scopes_supported": ["news2:read", "admin"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
        "response_types_supported": ["token"],
    }


def test_the_jwks_publishes_only_the_public_signing_key(
    issuer: BuiltinIssuer, signing_key: ECKey
) -> None:
    [published] = issuer.jwks()["keys"]
    assert published == {**signing_key.as_dict(private=False), "use": "sig", "alg": "ES256"}
    assert "d" not in published


# --- the signing key ------------------------------------------------------------------------------


def test_a_development_key_is_made_once_private_to_its_owner(tmp_path: Path) -> None:
    settings = make_settings(Backend("sqlite", None, None), tmp_path / "not" / "there")
    key = load_signing_key(settings)
    path = settings.data_path / "issuer-dev-key.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert (key.curve_name, key.is_private) == ("P-256", True)
    assert load_signing_key(settings).as_dict(private=True) == key.as_dict(private=True)


@pytest.mark.parametrize(
    "stored",
    [
        ECKey.generate_key("P-256").as_dict(private=False),
        ECKey.generate_key("P-384").as_dict(private=True),
        RSAKey.generate_key(2048).as_dict(private=True),
    ],
    ids=["public", "P-384", "RSA"],
)
def test_a_key_file_must_hold_a_private_p256_key(tmp_path: Path, stored: dict[str, Any]) -> None:
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(stored), encoding="utf-8")
    settings = make_settings(Backend("sqlite", None, None), tmp_path, issuer_key_file=path)
    with pytest.raises(ValueError, match="P-256") as refused:
        load_signing_key(settings)
    assert str(refused.value) == f"{path}: the issuer key must be a private EC key on P-256 (ES256)"


def test_a_configured_key_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    settings = make_settings(Backend("sqlite", None, None), tmp_path, issuer_key_file=path)
    with pytest.raises(FileNotFoundError) as refused:
        load_signing_key(settings)
    assert str(refused.value) == f"issuer key file {path} does not exist"
    assert not path.exists()
