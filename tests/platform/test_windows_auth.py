"""The security windows, each tested on both sides of its edge with the clock controlled.

- A DPoP proof's ``iat``: at most 60 s old and 30 s ahead (59/60/61 s and 29/30/31 s).
- The DPoP replay cache keeps a proof's ``jti`` for as long as the proof could be accepted: a proof
  first used at the earliest moment its ``iat`` allows is refused as a replay 1 s later and at the
  last moment its ``iat`` still allows (90 s later).
- The client assertion: ``exp`` at most 60 s ahead (plus 30 s of skew), expired 30 s after
  ``exp``; its ``jti`` replay cache keeps it for as long as the assertion could be accepted.
- An access token lives ``access_token_lifetime_seconds``; 30 s (the skew) after its ``exp`` it is
  refused, whether verified afresh (RFC 7519: expired at ``exp``) or remembered from before.
- An attestation is accepted for 60 minutes after its ``iat``.

No test sleeps: the checks take ``now``, and the replay cache runs on a clock the test moves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from joserfc.jwk import ECKey

from journalloft.platform.auth.attestation import AttestationRefused, attestation_from_details
from journalloft.platform.auth.dpop import verify_dpop_proof
from journalloft.platform.auth.issuer import BuiltinIssuer
from journalloft.platform.auth.tokens import TokenVerifier
from journalloft.platform.core.errors import OAuthError, Unauthorized
from journalloft.platform.storage.kv import MemoryKeyValue, RedisKeyValue
from support import client_assertion, dpop_proof, tenant_document
from support.platform import REDIS_URL, Backend, TestPlatform, start_platform, unavailable
from support.security import attestation_details

URL = "https://journalloft.example/v1/news2/query"
T = 1_900_000_000  # the proof's iat: a fixed instant, far from the test's own clock


class Clock:
    """The replay cache's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def verify(proof: str, *, now: float, replay: Any = None) -> str:
    return verify_dpop_proof(
        proof,
        method="POST",
        url=URL,
        access_token=None,
        replay=MemoryKeyValue() if replay is None else replay,
        now=now,
    )


@pytest.mark.parametrize(
    ("age", "accepted"),
    [(-31, False), (-30, True), (-29, True), (0, True), (59, True), (60, True), (61, False)],
)
def test_a_dpop_proof_is_accepted_from_30_s_ahead_to_60_s_old(
    key: ECKey, age: int, accepted: bool
) -> None:
    proof = dpop_proof(key, method="POST", url=URL, iat=T)
    if accepted:
        assert verify(proof, now=T + age) == key.thumbprint()
    else:
        with pytest.raises(Unauthorized, match="iat"):
            verify(proof, now=T + age)


@pytest.mark.parametrize("later", [1, 2, 30, 89, 90])
def test_a_dpop_proof_is_a_replay_for_as_long_as_its_iat_is_accepted(
    key: ECKey, later: int
) -> None:
    """First used 30 s before its iat (the earliest), replayed up to 60 s after it (the last
    moment the iat window accepts it): 90 s in which the cache must still hold the jti."""
    clock = Clock()
    replay = MemoryKeyValue(clock)
    proof = dpop_proof(key, method="POST", url=URL, iat=T)
    verify(proof, now=T - 30, replay=replay)
    clock.now += later
    with pytest.raises(Unauthorized, match="used before"):
        verify(proof, now=T - 30 + later, replay=replay)


def test_the_dpop_replay_cache_forgets_only_after_the_iat_window_has_closed(key: ECKey) -> None:
    """The cache's lifetime covers the window and is bounded: the key is gone 120 s later."""
    clock = Clock()
    replay = MemoryKeyValue(clock)
    proof = dpop_proof(key, method="POST", url=URL, iat=T, jti="j" * 16)
    verify(proof, now=T, replay=replay)
    clock.now += 119
    with pytest.raises(Unauthorized, match="used before"):
        verify(proof, now=T, replay=replay)
    clock.now += 1
    assert verify(proof, now=T, replay=replay) == key.thumbprint()


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        unavailable("JOURNALLOFT_TEST_REDIS_URL is not set")
    assert REDIS_URL
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at JOURNALLOFT_TEST_REDIS_URL is unreachable: {exc}")
    return REDIS_URL


@pytest.mark.redis
def test_the_dpop_replay_key_in_redis_lives_the_whole_iat_window(
    key: ECKey, redis_url: str
) -> None:
    replay = RedisKeyValue(redis_url)
    jti = uuid.uuid4().hex
    try:
        verify(dpop_proof(key, method="POST", url=URL, iat=T, jti=jti), now=T, replay=replay)
        ttl = redis.Redis.from_url(redis_url).ttl(f"journalloft:dpop:{key.thumbprint()}:{jti}")
    finally:
        replay.close()
    assert 90 <= int(ttl) <= 120


# --- the client assertion and the access token ----------------------------------------------------


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPlatform]:
    """A platform on SQLite whose issuer the tests call directly with their own ``now``."""
    backend = Backend("sqlite", None, None)
    for platform in start_platform(backend, tmp_path_factory.mktemp("windows")):
        platform.onboard(tenant_document("1804"))
        yield platform


def issuer_of(platform: TestPlatform, replay: Any) -> BuiltinIssuer:
    runtime = platform.runtime
    return BuiltinIssuer(
        settings=runtime.settings,
        stores=runtime.stores,
        tenants=runtime.tenants,
        replay=replay,
        key=ECKey.generate_key("P-256", auto_kid=True),
    )


def form(platform: TestPlatform, **claims: Any) -> dict[str, str]:
    client = "bodo-legevakt"
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(
            client,
            platform.key(client),
            audience=platform.runtime.settings.issuer_url,
            **claims,
        ),
    }


@pytest.mark.parametrize(
    ("now", "accepted", "words"),
    [
        (T - 91, False, "60 s ahead"),
        (T - 90, True, ""),
        (T - 89, True, ""),
        (T + 29, True, ""),
        (T + 30, True, ""),
        (T + 31, False, "expired"),
    ],
)
def test_an_assertion_is_accepted_up_to_60_s_before_exp_and_30_s_after(
    issued: TestPlatform, now: int, accepted: bool, words: str
) -> None:
    """Without iat: exp at most 60 s (and 30 s of skew) ahead, and 30 s of skew after it."""
    issuer = issuer_of(issued, MemoryKeyValue())
    request = form(issued, exp=T, iat=None)
    if accepted:
        assert issuer.token(request, dpop=None, now=now)["access_token"]
    else:
        with pytest.raises(OAuthError) as refused:
            issuer.token(request, dpop=None, now=now)
        assert words in str(refused.value.detail)


@pytest.mark.parametrize(("lifetime", "accepted"), [(59, True), (60, True), (61, False)])
def test_an_assertion_lives_at_most_60_s_from_its_iat(
    issued: TestPlatform, lifetime: int, accepted: bool
) -> None:
    issuer = issuer_of(issued, MemoryKeyValue())
    request = form(issued, iat=T, exp=T + lifetime)
    if accepted:
        assert issuer.token(request, dpop=None, now=T)["access_token"]
    else:
        with pytest.raises(OAuthError, match="60 s ahead"):
            issuer.token(request, dpop=None, now=T)


@pytest.mark.parametrize("later", [1, 2, 60, 119, 120])
def test_an_assertion_is_a_replay_for_as_long_as_it_is_accepted(
    issued: TestPlatform, later: int
) -> None:
    """First used 90 s before its exp (the earliest), replayed up to 30 s after it (the latest):
    the jti cache must hold it for those 120 s."""
    clock = Clock()
    issuer = issuer_of(issued, MemoryKeyValue(clock))
    request = form(issued, exp=T, iat=None)
    issuer.token(request, dpop=None, now=T - 90)
    clock.now += later
    with pytest.raises(OAuthError) as refused:
        issuer.token(request, dpop=None, now=T - 90 + later)
    assert "used before" in str(refused.value.detail)


@pytest.mark.parametrize(("after", "accepted"), [(-1, True), (0, True), (29, True), (30, False)])
def test_an_access_token_lives_its_lifetime_and_the_skew(
    issued: TestPlatform, after: int, accepted: bool
) -> None:
    issuer = issuer_of(issued, MemoryKeyValue())
    now = int(time.time())
    answer = issuer.token(form(issued), dpop=None, now=now)
    lifetime = issued.runtime.settings.access_token_lifetime_seconds
    assert answer["expires_in"] == lifetime
    verifier = TokenVerifier([issuer.issuer_keys()], now=lambda: now + lifetime + after)
    if accepted:
        assert verifier.verify(answer["access_token"])[0]["exp"] == now + lifetime
    else:
        with pytest.raises(Unauthorized, match="expired"):
            verifier.verify(answer["access_token"])


def test_a_remembered_access_token_is_refused_after_its_lifetime_and_the_skew(
    issued: TestPlatform,
) -> None:
    issuer = issuer_of(issued, MemoryKeyValue())
    now = int(time.time())
    token = issuer.token(form(issued), dpop=None, now=now)["access_token"]
    lifetime = issued.runtime.settings.access_token_lifetime_seconds
    clock = [float(now)]
    verifier = TokenVerifier([issuer.issuer_keys()], now=lambda: clock[0])
    verifier.verify(token)
    clock[0] = now + lifetime + 29
    assert verifier.remembered(token) is not None
    clock[0] = now + lifetime + 30
    assert verifier.remembered(token) is None
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


@pytest.mark.parametrize(
    ("age", "accepted"),
    [(-31, False), (-30, True), (3599, True), (3600, True), (3601, False)],
)
def test_an_attestation_is_accepted_for_60_minutes(age: int, accepted: bool) -> None:
    details = [attestation_details()]
    if accepted:
        assert attestation_from_details(details, issued_at=T, now=T + age, source="token")
    else:
        with pytest.raises(AttestationRefused):
            attestation_from_details(details, issued_at=T, now=T + age, source="token")
