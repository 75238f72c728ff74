"""Builders for the security tests: a fake HelseID, DPoP-bound tokens and requests, attestations,
and tokens broken in every way the token matrix needs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from journalloft.client import b64url_sha256
from journalloft.platform.audit.log import FEED_DELAY_SECONDS
from journalloft.platform.auth.attestation import TILLITSRAMMEVERK
from journalloft.platform.auth.tokens import ORGNR_PARENT
from journalloft.platform.core.settings import get_settings
from support import dpop_proof, token_form
from support.platform import Backend, TestPlatform, start_platform

PUBLIC_URL = "http://testserver"
HELSEID = "https://helseid-sts.test.nhn.no"
HELSEID_AUDIENCE = "nhn:journalloft"
PRACTITIONER_PID = "13116900216"
"""A practitioner's national id as HelseID's attestation may carry it (synthetic): it must never
reach the audit log."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a compact JWT, unverified (to look at what a token carries)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class FakeHelseID:
    """An external OIDC issuer with its own RSA key, minting access tokens as HelseID does."""

    def __init__(self, issuer: str = HELSEID, audience: str = HELSEID_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = RSAKey.generate_key(2048, parameters={"kid": "helseid-1"})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "use": "sig", "alg": "RS256"}]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path

    def trusted(self, jwks_file: Path) -> dict[str, Any]:
        return {"issuer": self.issuer, "audience": self.audience, "jwks_file": str(jwks_file)}

    def claims(self, client_id: str, scope: Any, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "client_id": client_id,
            "sub": client_id,
            "scope": scope,
            ORGNR_PARENT: "974760673",
            "helseid://claims/client/claims/orgnr_child": "974760673",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        client_id: str,
        scope: Any = ("news2:read",),
        *,
        key: RSAKey | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        protected = {"alg": "RS256", "kid": self.key.kid, "typ": "at+jwt", **(header or {})}
        scope = list(scope) if isinstance(scope, tuple) else scope
        return jwt.encode(protected, self.claims(client_id, scope, **claims), key or self.key)


def unsigned_token(claims: dict[str, Any]) -> str:
    """``alg: none``: the oldest trick."""
    header = {"alg": "none", "typ": "at+jwt"}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict[str, Any], public_pem: bytes, kid: str) -> str:
    """HS256 with the issuer's public key as the HMAC secret (algorithm confusion)."""
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over other claims."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def attestation_details(
    *,
    purpose: str = "ETREAT",
    name: str | None = "Lege Legesen",
    hpr: str | None = "9144900",
    legal_entity: str = "974760673",
    point_of_care: str = "974760673",
    healthcare_service: str = "KA02",
    pid: str | None = PRACTITIONER_PID,
    decision_ref: str | None = "beslutning-42",
) -> dict[str, Any]:
    """A tillitsrammeverk entry as a legevakt system sends it (HelseID's profile)."""
    practitioner: dict[str, Any] = {
        "authorization": {"code": "LE", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"},
        "legal_entity": {"id": legal_entity, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
        "point_of_care": {"id": point_of_care, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
    }
    if name or pid:
        practitioner["pid"] = {
            k: v
            for k, v in {"id": pid, "name": name, "system": "urn:oid:2.16.578.1.12.4.1.4.1"}.items()
            if v
        }
    if hpr:
        practitioner["hpr_nr"] = {"id": hpr, "system": "urn:oid:2.16.578.1.12.4.1.4.4"}
    care: dict[str, Any] = {
        "healthcare_service": {
            "code": healthcare_service,
            "system": "urn:oid:2.16.578.1.12.4.1.1.8663",
        },
        "purpose_of_use": {"code": purpose, "system": "urn:oid:2.16.840.1.113883.1.11.20448"},
    }
    if decision_ref:
        care["decision_ref"] = {"id": decision_ref, "user_selected": True}
    return {"type": TILLITSRAMMEVERK, "practitioner": practitioner, "care_relationship": care}


def attestation_header(
    key: ECKey,
    client_id: str,
    details: dict[str, Any],
    *,
    iat: int | None = None,
    audience: str = PUBLIC_URL,
    header: dict[str, Any] | None = None,
) -> str:
    """The ``Tillitsrammeverk-Attestation`` JWT, signed with the caller's DPoP key."""
    protected = {"typ": "tillitsrammeverk+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    protected.update(header or {})
    claims = {
        "iss": client_id,
        "aud": audience,
        "iat": int(time.time()) if iat is None else iat,
        "authorization_details": [details],
    }
    return jwt.encode(protected, claims, key)


def dpop_token(
    platform: TestPlatform,
    client_id: str,
    dpop_key: ECKey,
    *,
    scope: str | None = None,
    authorization_details: list[dict[str, Any]] | None = None,
) -> str:
    """A DPoP-bound token from the built-in issuer, as a client gets it (RFC 9449 §5)."""
    form = token_form(client_id, platform.key(client_id), audience=PUBLIC_URL, scope=scope)
    if authorization_details is not None:
        form["authorization_details"] = json.dumps(authorization_details)
    proof = dpop_proof(dpop_key, method="POST", url=f"{PUBLIC_URL}/oauth/token")
    response = platform.client.post("/oauth/token", data=form, headers={"DPoP": proof})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": dpop_key.thumbprint()}
    token: str = body["access_token"]
    return token


def dpop_headers(
    token: str, key: ECKey, method: str, path: str, **proof_options: Any
) -> dict[str, str]:
    """``Authorization: DPoP`` and a fresh proof for one request."""
    proof = dpop_proof(
        key, method=method, url=PUBLIC_URL + path, access_token=token, **proof_options
    )
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def access_token_hash(token: str) -> str:
    return b64url_sha256(token)


def module_platform(backend: Backend, tmp: Path, **settings: Any) -> Iterator[TestPlatform]:
    """A platform shared by the tests of one module."""
    yield from start_platform(backend, tmp, **settings)


def read_feed(
    platform: TestPlatform, kommunenummer: str, operator: str, **params: Any
) -> dict[str, Any]:
    """One page of the review feed, read a few minutes from now so that what just happened is
    past the feed's delay."""
    original = platform.runtime.clock
    later = original() + timedelta(seconds=FEED_DELAY_SECONDS + 60)
    platform.runtime.clock = lambda: later
    try:
        response = platform.client.get(
            f"/v1/tenants/{kommunenummer}/audit/events",
            params=params,
            headers=platform.headers(operator),
        )
    finally:
        platform.runtime.clock = original
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert datetime.fromisoformat(page["until"]) <= later.astimezone(UTC)
    return page


def use_platform_settings(platform: TestPlatform, monkeypatch: Any) -> None:
    """Point the ``journalloft`` command at this platform's stores, as an operator's environment
    would (call ``get_settings.cache_clear()`` after the test)."""
    settings = platform.runtime.settings
    monkeypatch.setenv("JOURNALLOFT_ENVIRONMENT", "test")
    monkeypatch.setenv("JOURNALLOFT_HOME", str(settings.home))
    monkeypatch.setenv("JOURNALLOFT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("JOURNALLOFT_PUBLIC_URL", PUBLIC_URL)
    for name, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url)):
        if value:
            monkeypatch.setenv(f"JOURNALLOFT_{name}", value)
        else:
            monkeypatch.delenv(f"JOURNALLOFT_{name}", raising=False)
    get_settings.cache_clear()


def an_hour_ago() -> str:
    """An instant for records pushed on the real clock (NEWS2 shows the last 72 hours)."""
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()
