"""Access tokens: the token matrix, HelseID as an external issuer (JWKS from a file and from a URL,
refreshed on an unknown kid), HelseID's claims, and production without the built-in issuer."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import httpx2
import pytest
from joserfc.jwk import ECKey, RSAKey

import journalloft.platform.auth.tokens as tokens_module
from journalloft.platform.auth.tokens import (
    IssuerKeys,
    Principal,
    TokenVerifier,
    fetch_jwks,
    principal_from_claims,
)
from journalloft.platform.core.errors import ServiceUnavailable, Unauthorized
from support import SERVICES, people, tenant_document
from support.platform import Backend, TestPlatform, start_platform
from support.security import (
    HELSEID,
    FakeHelseID,
    an_hour_ago,
    attestation_details,
    claims_of,
    dpop_headers,
    hs256_with_public_key,
    tampered,
    unsigned_token,
)

ALICE, BOB = people(2, seed="security-tokens")
HELSEID_CLIENT = "7b2c6f3e-helseid-legevakt"
UNGRANTED_CLIENT = "0d9a1c55-helseid-ukjent"
QUERY = "/v1/news2/query"


@pytest.fixture(scope="module")
def helseid() -> FakeHelseID:
    return FakeHelseID()


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory, helseid: FakeHelseID
) -> Iterator[TestPlatform]:
    """Bodø with a legevakt known by its HelseID client id; HelseID's JWKS from a file."""
    tmp = tmp_path_factory.mktemp("tokens")
    jwks = helseid.write_jwks(tmp / "helseid-jwks.json")
    for platform in start_platform(module_backend, tmp, trusted_issuers=[helseid.trusted(jwks)]):
        helseid_consumer = {"client_id": HELSEID_CLIENT, "name": "Legevakt", "services": ["news2"]}
        platform.onboard(tenant_document("1804", extra_consumers=[helseid_consumer]))
        at = an_hour_ago()
        record = {"id": "m-1", "patient": ALICE, "updated": at, "effective": at, "spo2_scale": 1}
        pushed = platform.client.post(
            "/v1/tenants/1804/news2/records",
            json={"records": [record]},
            headers=platform.headers("bodo-epj"),
        )
        assert pushed.status_code == 200, pushed.text
        yield platform


def look_up(platform: TestPlatform, token: str, scheme: str = "Bearer") -> httpx2.Response:
    return platform.client.post(
        QUERY,
        json={"patients": [ALICE], "kommuner": ["1804"]},
        headers={"Authorization": f"{scheme} {token}"},
    )


def test_a_helseid_token_reads_what_bodo_granted_and_is_logged_with_its_organisation(
    platform: TestPlatform, helseid: FakeHelseID
) -> None:
    response = look_up(platform, helseid.token(HELSEID_CLIENT, ["news2:read"]))
    assert response.status_code == 200, response.text
    assert [r["patient"] for r in response.json()["results"]] == [ALICE]
    log = platform.client.post(
        "/v1/tenants/1804/audit/query",
        json={"patient": ALICE},
        headers=platform.headers("bodo-drift"),
    ).json()["events"]
    reads = [e for e in log if e["client_id"] == HELSEID_CLIENT]
    assert reads
    assert reads[0]["organisasjonsnummer"] == "974760673"


def test_helseid_claims_map_to_the_principal_the_built_in_issuer_yields(
    platform: TestPlatform, helseid: FakeHelseID
) -> None:
    claims = claims_of(helseid.token(HELSEID_CLIENT, ["news2:read", "news2:write"]))
    as_list = principal_from_claims(claims, issuer=HELSEID)
    as_string = principal_from_claims(
        claims_of(helseid.token(HELSEID_CLIENT, "news2:write news2:read", exp=claims["exp"])),
        issuer=HELSEID,
    )
    assert as_list == as_string
    assert as_list == Principal(
        client_id=HELSEID_CLIENT,
        scopes=frozenset({"news2:read", "news2:write"}),
        issuer=HELSEID,
        organisasjonsnummer="974760673",
        expires_at=float(claims["exp"]),  # a event stream ends then
    )
    built_in = principal_from_claims(
        claims_of(platform.token("bodo-legevakt")), issuer="http://testserver"
    )
    assert built_in.client_id == "bodo-legevakt"
    assert built_in.organisasjonsnummer == "972418013"
    assert built_in.scopes == frozenset(f"{name}:read" for name in SERVICES)


@pytest.fixture(scope="module")
def strangers() -> tuple[RSAKey, RSAKey]:
    """A key that claims HelseID's kid, and one with a kid HelseID never published."""
    return (
        RSAKey.generate_key(2048, parameters={"kid": "helseid-1"}),
        RSAKey.generate_key(2048, parameters={"kid": "not-published"}),
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"client_id": "x" * 129, "sub": None}, "names no client"),
        ({"client_id": None, "sub": None}, "names no client"),
        ({"helseid://claims/client/claims/orgnr_parent": "Bodø"}, "orgnr_parent"),
    ],
)
def test_claims_the_audit_log_could_not_hold_are_refused(
    helseid: FakeHelseID, claims: dict[str, Any], reason: str
) -> None:
    token_claims = {**helseid.claims(HELSEID_CLIENT, ["news2:read"]), **claims}
    with pytest.raises(Unauthorized, match=reason):
        principal_from_claims(token_claims, issuer=HELSEID)


def _matrix(
    helseid: FakeHelseID, strangers: tuple[RSAKey, RSAKey]
) -> dict[str, tuple[Callable[[], str], int, str]]:
    """Each case: a token maker, the status it must get, and a word the refusal must name."""
    now = int(time.time())
    stranger, other_kid = strangers
    public_pem = helseid.key.as_pem(private=False)
    return {
        "valid (control)": (lambda: helseid.token(HELSEID_CLIENT), 200, ""),
        "expired": (lambda: helseid.token(HELSEID_CLIENT, exp=now - 120), 401, "expired"),
        "not yet valid": (
            lambda: helseid.token(HELSEID_CLIENT, nbf=now + 300),
            401,
            "not yet valid",
        ),
        "wrong issuer": (
            lambda: helseid.token(HELSEID_CLIENT, iss="https://helseid.example"),
            401,
            "issuer",
        ),
        "wrong audience": (lambda: helseid.token(HELSEID_CLIENT, aud="nhn:other-api"), 401, "aud"),
        "alg none": (
            lambda: unsigned_token(helseid.claims(HELSEID_CLIENT, ["news2:read"])),
            401,
            "algorithm",
        ),
        "HS256 signed with the public key": (
            lambda: hs256_with_public_key(
                helseid.claims(HELSEID_CLIENT, ["news2:read"]), public_pem, helseid.key.kid or ""
            ),
            401,
            "algorithm",
        ),
        "unknown kid": (
            lambda: helseid.token(HELSEID_CLIENT, key=other_kid, header={"kid": "not-published"}),
            401,
            "signature",
        ),
        "signed by another key with the published kid": (
            lambda: helseid.token(HELSEID_CLIENT, key=stranger),
            401,
            "signature",
        ),
        "tampered signature": (
            lambda: tampered(helseid.token(HELSEID_CLIENT, ["news2:write"]), scope=["news2:read"]),
            401,
            "signature",
        ),
        "an id token, not an access token": (
            lambda: helseid.token(HELSEID_CLIENT, header={"typ": "JWT"}),
            401,
            "typ",
        ),
        "no exp": (lambda: helseid.token(HELSEID_CLIENT, exp=None), 401, "exp"),
        "missing scope": (lambda: helseid.token(HELSEID_CLIENT, ["news2:write"]), 403, "scope"),
        "scope without grant": (
            lambda: helseid.token(UNGRANTED_CLIENT, ["news2:read"]),
            403,
            "not granted",
        ),
    }


CASES = [
    "valid (control)",
    "expired",
    "not yet valid",
    "wrong issuer",
    "wrong audience",
    "alg none",
    "HS256 signed with the public key",
    "unknown kid",
    "signed by another key with the published kid",
    "tampered signature",
    "an id token, not an access token",
    "no exp",
    "missing scope",
    "scope without grant",
]


@pytest.mark.parametrize("case", CASES)
def test_token_matrix(
    platform: TestPlatform, helseid: FakeHelseID, strangers: tuple[RSAKey, RSAKey], case: str
) -> None:
    matrix = _matrix(helseid, strangers)
    assert list(matrix) == CASES
    make, status, reason = matrix[case]
    response = look_up(platform, make())
    assert response.status_code == status, response.text
    if status == 401:
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="invalid_token"')
        assert 'DPoP algs="' in challenge
    if reason:
        assert reason in response.json()["detail"]
    else:
        assert response.json()["results"][0]["patient"] == ALICE


def test_a_dpop_bound_token_is_refused_as_bearer(
    platform: TestPlatform, helseid: FakeHelseID
) -> None:
    key = ECKey.generate_key("P-256")
    token = helseid.token(HELSEID_CLIENT, cnf={"jkt": key.thumbprint()})
    as_bearer = look_up(platform, token)
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    as_dpop = platform.client.post(
        QUERY,
        json={"patients": [ALICE], "kommuner": ["1804"]},
        headers=dpop_headers(token, key, "POST", QUERY),
    )
    assert as_dpop.status_code == 200, as_dpop.text


def test_a_helseid_attestation_older_than_60_minutes_is_refused(
    platform: TestPlatform, helseid: FakeHelseID
) -> None:
    now = int(time.time())
    details = [attestation_details()]
    fresh = helseid.token(HELSEID_CLIENT, iat=now - 3500, authorization_details=details)
    assert look_up(platform, fresh).status_code == 200
    stale = helseid.token(HELSEID_CLIENT, iat=now - 3700, authorization_details=details)
    response = look_up(platform, stale)
    assert response.status_code == 403
    assert response.json()["title"] == "Attestation refused"
    assert "60 minutes" in response.json()["detail"]


class HelseIDServer:
    """HelseID's JWKS endpoint behind an httpx MockTransport: no network."""

    def __init__(self, helseid: FakeHelseID) -> None:
        self.keys = [helseid.key]
        self.requests = 0
        self.down = False
        self.gate: threading.Event | None = None
        """When set, each request waits for the gate to open (a slow HelseID)."""
        self.arrived = threading.Event()
        """Set once a request has arrived."""
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        self.arrived.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            return httpx.Response(503)
        assert request.url.path == "/.well-known/openid-configuration/jwks"
        return httpx.Response(
            200, json={"keys": [{**k.as_dict(private=False), "use": "sig"} for k in self.keys]}
        )

    def fetch(self, url: str) -> Any:
        return fetch_jwks(url, transport=httpx.MockTransport(self.handle))


JWKS_URI = HELSEID + "/.well-known/openid-configuration/jwks"


def test_keys_from_a_jwks_url_are_cached_and_refreshed_on_an_unknown_kid(
    helseid: FakeHelseID,
) -> None:
    server = HelseIDServer(helseid)
    clock = [1000.0]
    keys = IssuerKeys(
        issuer=HELSEID,
        audience=helseid.audience,
        jwks_uri=JWKS_URI,
        fetch=server.fetch,
        clock=lambda: clock[0],
    )
    verifier = TokenVerifier([keys])
    assert verifier.verify(helseid.token(HELSEID_CLIENT))[1] == HELSEID
    assert verifier.verify(helseid.token(HELSEID_CLIENT))[1] == HELSEID
    assert server.requests == 1

    rotated = RSAKey.generate_key(2048, parameters={"kid": "helseid-2"})
    server.keys.append(rotated)
    new_token = helseid.token(HELSEID_CLIENT, key=rotated, header={"kid": "helseid-2"})
    clock[0] += 10  # within the refresh interval: an unknown kid must not hammer HelseID
    with pytest.raises(Unauthorized):
        verifier.verify(new_token)
    assert server.requests == 1
    clock[0] += IssuerKeys.REFRESH_INTERVAL_SECONDS
    assert verifier.verify(new_token)[1] == HELSEID
    assert server.requests == 2
    for _ in range(3):
        with pytest.raises(Unauthorized):
            verifier.verify(helseid.token(HELSEID_CLIENT, header={"kid": "made-up"}))
    assert server.requests == 2

    server.down = True
    clock[0] += IssuerKeys.MAX_AGE_SECONDS + 1
    fresh = helseid.token(HELSEID_CLIENT, key=rotated, header={"kid": "helseid-2"}, jti="fresh")
    assert verifier.verify(fresh)[1] == HELSEID  # HelseID down: the cached keys still work
    assert server.requests == 3


def test_an_issuer_whose_keys_were_never_fetched_is_a_503(helseid: FakeHelseID) -> None:
    server = HelseIDServer(helseid)
    server.down = True
    verifier = TokenVerifier(
        [
            IssuerKeys(
                issuer=HELSEID, audience=helseid.audience, jwks_uri=JWKS_URI, fetch=server.fetch
            )
        ]
    )
    with pytest.raises(ServiceUnavailable):
        verifier.verify(helseid.token(HELSEID_CLIENT))


def all_waiting(threads: list[threading.Thread]) -> bool:
    """Whether each thread is blocked in :meth:`IssuerKeys.key_set`: the leader fetching (held at
    the fake HelseID's gate), every other one waiting for its flight."""
    frames = sys._current_frames()

    def waiting(thread: threading.Thread) -> bool:
        frame = frames.get(thread.ident or 0)
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        return {"key_set", "wait"} <= names

    return all(waiting(thread) for thread in threads)


def verify_at_once(verifier: TokenVerifier, tokens: list[str], server: HelseIDServer) -> list[Any]:
    """Verify the tokens on one thread each, all at once while HelseID is slow to answer; each
    thread's claims, or the exception it got."""
    server.gate = threading.Event()
    outcomes: list[Any] = [None] * len(tokens)

    def run(i: int) -> None:
        try:
            outcomes[i] = verifier.verify(tokens[i])[0]
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while not all_waiting(threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests == 1
    assert all_waiting(threads), "not every thread came to wait for the keys"
    server.gate.set()
    for thread in threads:
        thread.join(10)
    server.gate = None
    return outcomes


@pytest.mark.parametrize("down", [False, True], ids=["HelseID up", "HelseID down"])
def test_ten_requests_waiting_for_an_issuers_keys_share_one_fetch(
    helseid: FakeHelseID, down: bool
) -> None:
    """Ten tokens naming a trusted issuer whose keys never loaded: one fetch of its JWKS, whose
    result (keys, or failure) all ten share."""
    server = HelseIDServer(helseid)
    server.down = down
    keys = IssuerKeys(
        issuer=HELSEID, audience=helseid.audience, jwks_uri=JWKS_URI, fetch=server.fetch
    )
    tokens = [helseid.token(HELSEID_CLIENT, jti=f"t-{i}") for i in range(10)]
    outcomes = verify_at_once(TokenVerifier([keys]), tokens, server)
    assert server.requests == 1
    if down:
        assert all(isinstance(o, ServiceUnavailable) for o in outcomes), outcomes
    else:
        assert [o["jti"] for o in outcomes] == [f"t-{i}" for i in range(10)]


def test_after_a_failed_fetch_the_jwks_is_not_fetched_again_until_the_backoff_passes(
    helseid: FakeHelseID,
) -> None:
    server = HelseIDServer(helseid)
    server.down = True
    clock = [1000.0]
    keys = IssuerKeys(
        issuer=HELSEID,
        audience=helseid.audience,
        jwks_uri=JWKS_URI,
        fetch=server.fetch,
        clock=lambda: clock[0],
    )
    verifier = TokenVerifier([keys])

    def refused() -> ServiceUnavailable:
        with pytest.raises(ServiceUnavailable) as caught:
            verifier.verify(helseid.token(HELSEID_CLIENT, jti=uuid.uuid4().hex))
        return caught.value

    backoffs = []
    for fetches in range(1, 10):
        first = refused()
        assert server.requests == fetches
        backoff = int(first.headers["Retry-After"])
        backoffs.append(backoff)
        for _ in range(5):  # made-up tokens arriving during the backoff fetch nothing
            assert int(refused().headers["Retry-After"]) <= backoff
        clock[0] += backoff - 0.5
        refused()
        assert server.requests == fetches
        clock[0] += 0.6
    assert backoffs == [1, 2, 4, 8, 16, 32, 60, 60, 60]

    server.down = False
    assert verifier.verify(helseid.token(HELSEID_CLIENT))[1] == HELSEID
    assert server.requests == 10
    server.down = True  # loaded once: a made-up kid is refused with the keys it has, 401
    clock[0] += IssuerKeys.REFRESH_INTERVAL_SECONDS + 1
    with pytest.raises(Unauthorized):
        verifier.verify(helseid.token(HELSEID_CLIENT, header={"kid": "made-up"}))
    assert server.requests == 11
    for _ in range(3):
        with pytest.raises(Unauthorized):
            verifier.verify(helseid.token(HELSEID_CLIENT, header={"kid": "made-up-too"}))
    assert server.requests == 11


def test_a_request_waits_for_a_slow_fetch_no_longer_than_its_timeout(
    helseid: FakeHelseID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that finds another's fetch under way waits for it at most the fetch's timeout
    + 1 s, then is refused 503 while the fetch still hangs; the wait's clock is the test's (each
    wait runs out at once and says how long it would have waited), so nothing here is timed."""
    waits: list[float | None] = []

    class Flight(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return self.is_set()  # as when the wait has run out

    monkeypatch.setattr(
        tokens_module, "threading", SimpleNamespace(Event=Flight, Lock=threading.Lock)
    )
    server = HelseIDServer(helseid)
    server.gate = threading.Event()
    keys = IssuerKeys(
        issuer=HELSEID,
        audience=helseid.audience,
        jwks_uri=JWKS_URI,
        fetch=server.fetch,
        fetch_timeout_seconds=0.2,
    )
    verifier = TokenVerifier([keys])
    leader = threading.Thread(target=lambda: keys.key_set(None))
    leader.start()
    assert server.arrived.wait(10)
    with pytest.raises(ServiceUnavailable):
        verifier.verify(helseid.token(HELSEID_CLIENT))
    assert waits == [0.2 + 1.0]
    assert leader.is_alive(), "refused only once the slow fetch had ended"
    assert server.requests == 1
    server.gate.set()
    leader.join(10)
    # the fetch has ended: the next request shares its keys, fetching nothing, waiting for none
    assert verifier.verify(helseid.token(HELSEID_CLIENT))[1] == HELSEID
    assert server.requests == 1
    assert waits == [0.2 + 1.0]


def test_a_jwks_that_trickles_in_is_cut_off_at_the_timeout() -> None:
    """The timeout bounds the whole answer, on the clock the test moves while the server
    "trickles": the rest arriving exactly at the timeout is taken, a moment later is not."""
    clock = [0.0]

    def trickling(pause: float) -> httpx.MockTransport:
        def chunks() -> Iterator[bytes]:
            yield b'{"keys": ['
            clock[0] += pause  # the server takes this long to send the rest
            yield b"]}"

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, stream=Trickle(chunks()))

        return httpx.MockTransport(handler)

    def fetch(pause: float) -> Any:
        clock[0] = 0.0
        return fetch_jwks(JWKS_URI, transport=trickling(pause), timeout=5.0, clock=lambda: clock[0])

    assert fetch(5.0) == {"keys": []}
    with pytest.raises(httpx.TimeoutException):
        fetch(5.001)
    big = httpx.MockTransport(lambda _: httpx.Response(200, content=b" " * 300_000))
    with pytest.raises(ValueError, match="larger"):
        fetch_jwks(JWKS_URI, transport=big)


class Trickle(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


def test_the_api_accepts_helseid_tokens_with_keys_from_a_jwks_url(
    platform: TestPlatform, helseid: FakeHelseID
) -> None:
    server = HelseIDServer(helseid)
    original = platform.runtime.verifier
    by_url = IssuerKeys(
        issuer=HELSEID, audience=helseid.audience, jwks_uri=JWKS_URI, fetch=server.fetch
    )
    others = [i for i in original.issuers() if i.issuer != HELSEID]
    platform.runtime.verifier = TokenVerifier([by_url, *others])
    try:
        assert look_up(platform, helseid.token(HELSEID_CLIENT)).status_code == 200
        assert server.requests == 1
    finally:
        platform.runtime.verifier = original


def test_a_jwks_file_is_reread_when_an_unknown_kid_arrives(
    helseid: FakeHelseID, tmp_path: Path
) -> None:
    path = helseid.write_jwks(tmp_path / "jwks.json")
    clock = [0.0]
    keys = IssuerKeys(
        issuer=HELSEID, audience=helseid.audience, jwks_file=path, clock=lambda: clock[0]
    )
    verifier = TokenVerifier([keys])
    verifier.verify(helseid.token(HELSEID_CLIENT))
    rotated = FakeHelseID()
    rotated.key = RSAKey.generate_key(2048, parameters={"kid": "helseid-2"})
    rotated.write_jwks(path)
    clock[0] += IssuerKeys.REFRESH_INTERVAL_SECONDS + 1
    assert verifier.verify(rotated.token(HELSEID_CLIENT))[1] == HELSEID
    assert keys.loads == 2


@pytest.fixture
def production(
    backend: Backend, tmp_path: Path, helseid: FakeHelseID
) -> Iterator[tuple[TestPlatform, str]]:
    """Production settings (on PostgreSQL; on SQLite the same switches, set one by one) over a
    data directory where the built-in issuer once signed a token."""
    for development in start_platform(backend, tmp_path):
        development.onboard(tenant_document("1804"))
        old_token = development.token("bodo-legevakt")
    jwks = helseid.write_jwks(tmp_path / "helseid-jwks.json")
    strict: dict[str, Any] = {"trusted_issuers": [helseid.trusted(jwks)]}
    if backend.database_url:
        strict["environment"] = "production"
        strict["allow_synthetic_ids"] = True  # the test people are synthetic
        strict["allow_insecure_issuer_urls"] = True  # the test client's URL is http://testserver
        fhir_key = tmp_path / "fhir.key"  # production keys its FHIR ids with the deployment's key
        fhir_key.write_bytes(os.urandom(64))
        strict["fhir_key_file"] = fhir_key
    else:
        strict |= {"builtin_issuer": False, "allow_bearer": False}
    for platform in start_platform(backend, tmp_path, **strict):
        assert platform.runtime.settings.builtin_issuer is False
        yield platform, old_token


def test_production_turns_the_built_in_issuer_off(
    production: tuple[TestPlatform, str], helseid: FakeHelseID
) -> None:
    platform, old_token = production
    for path in ("/.well-known/oauth-authorization-server", "/oauth/jwks"):
        assert platform.client.get(path).status_code == 404
    token_request = platform.client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert token_request.status_code == 404
    refused = platform.client.post(
        QUERY, json={"patients": [ALICE]}, headers={"Authorization": f"Bearer {old_token}"}
    )
    assert refused.status_code == 401
    assert "issuer is not trusted" in refused.json()["detail"]
    key = ECKey.generate_key("P-256")
    bound = helseid.token("bodo-legevakt", cnf={"jkt": key.thumbprint()})
    accepted = platform.client.post(
        QUERY, json={"patients": [ALICE]}, headers=dpop_headers(bound, key, "POST", QUERY)
    )
    assert accepted.status_code == 200, accepted.text
    unbound = platform.client.post(
        QUERY,
        json={"patients": [ALICE]},
        headers={"Authorization": f"Bearer {helseid.token('bodo-legevakt')}"},
    )
    assert unbound.status_code == 401
    assert unbound.headers["www-authenticate"].startswith("DPoP")
