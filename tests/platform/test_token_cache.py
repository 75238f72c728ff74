"""Verified tokens are remembered until they expire, and not a second longer."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from journalloft.platform.auth.keys import CLOCK_SKEW_SECONDS
from journalloft.platform.auth.tokens import IssuerKeys, TokenVerifier
from journalloft.platform.core.errors import Unauthorized

ISSUER = "https://issuer.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def token(key: ECKey, clock: Clock, **claims: Any) -> str:
    body = {
        "iss": ISSUER,
        "aud": "journalloft",
        "client_id": "c",
        "scope": "news2:read",
        "iat": int(clock.now),
        "exp": int(clock.now) + 300,
        **claims,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, body, key)


@pytest.fixture
def setup() -> tuple[TokenVerifier, ECKey, Clock]:
    key = ECKey.generate_key("P-256", auto_kid=True)
    clock = Clock()
    keys = IssuerKeys(issuer=ISSUER, audience="journalloft", keys=KeySet([key]))
    return TokenVerifier([keys], now=clock), key, clock


def test_a_remembered_token_is_refused_once_it_expires(setup) -> None:  # type: ignore[no-untyped-def]
    verifier, key, clock = setup
    value = token(key, clock)
    first, _ = verifier.verify(value)
    again, issuer = verifier.verify(value)
    assert again == first
    assert issuer == ISSUER
    clock.now += 300 + CLOCK_SKEW_SECONDS + 1
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(value)


def test_a_refused_token_is_never_remembered(setup) -> None:  # type: ignore[no-untyped-def]
    verifier, _, clock = setup
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    forged = token(stranger, clock)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    assert forged not in verifier._verified


def test_the_cache_stays_bounded(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    verifier, key, clock = setup
    monkeypatch.setattr(TokenVerifier, "CACHE_SIZE", 3)
    for i in range(10):
        verifier.verify(token(key, clock, jti=str(i)))
    assert len(verifier._verified) <= 3
