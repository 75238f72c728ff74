"""Access tokens and DPoP proofs, checked as HelseID's APIs check them.

A token is accepted only from a trusted issuer (HelseID, another configured OIDC issuer, or the
built-in issuer), signed with an asymmetric algorithm by a key in that issuer's JWKS, and with
``exp``, ``nbf``, ``iss`` and ``aud`` right. A token bound to a key (``cnf.jkt``) is accepted only
as
``Authorization: DPoP`` with a valid proof of that key (RFC 9449).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey, import_key

from journalloft.platform.errors import ServiceUnavailable, Unauthorized
from journalloft.platform.kv import KeyValue

ASYMMETRIC_ALGORITHMS = (
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
HELSEID_CLIENT = "helseid://claims/client/"
ORGNR_PARENT = HELSEID_CLIENT + "claims/orgnr_parent"
ORGNR_CHILD = HELSEID_CLIENT + "claims/orgnr_child"
CLOCK_SKEW_SECONDS = 30
DPOP_MAX_AGE_SECONDS = 60

PublicKey = ECKey | RSAKey | OKPKey


def b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWT, before anything is trusted; raises ValueError."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise ValueError("not a compact JWT") from exc
    header = compact.headers()
    if not isinstance(claims, dict):
        raise ValueError("JWT claims are not an object")
    return header, claims


def public_key(jwk: Mapping[str, Any]) -> PublicKey:
    """Import a public JWK; refuse private members and symmetric keys."""
    if PRIVATE_JWK_MEMBERS & set(jwk):
        raise ValueError("a public key must not carry private members")
    if jwk.get("kty") not in ("EC", "RSA", "OKP"):
        raise ValueError("only EC, RSA and OKP public keys are accepted")
    key = import_key(dict(jwk))
    assert isinstance(key, ECKey | RSAKey | OKPKey)
    return key


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key."""
    return public_key(jwk).thumbprint()


@dataclass(frozen=True, slots=True)
class Attestation:
    """The trust-framework context (tillitsrammeverk) a consumer sent for this access."""

    practitioner_name: str | None = None
    practitioner_hpr: str | None = None
    legal_entity: str | None = None
    point_of_care: str | None = None
    healthcare_service: str | None = None
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one client, with the scopes its token carries."""

    client_id: str
    scopes: frozenset[str]
    issuer: str
    organisasjonsnummer: str | None = None
    dpop_jkt: str | None = None
    attestation: Attestation = field(default_factory=Attestation)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def principal_from_claims(claims: Mapping[str, Any], *, issuer: str) -> Principal:
    """Map built-in and HelseID claims to one principal."""
    scope = claims.get("scope", "")
    scopes = frozenset(scope.split() if isinstance(scope, str) else scope)
    client_id = claims.get("client_id") or claims.get("sub")
    if not isinstance(client_id, str) or not client_id:
        raise Unauthorized("the token names no client")
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    orgnr = claims.get(ORGNR_PARENT)
    return Principal(
        client_id=client_id,
        scopes=scopes,
        issuer=issuer,
        organisasjonsnummer=orgnr if isinstance(orgnr, str) else None,
        dpop_jkt=jkt if isinstance(jkt, str) else None,
    )


class IssuerKeys:
    """The signing keys of one trusted issuer, from a key set, a file, or a JWKS URL (cached)."""

    REFRESH_INTERVAL_SECONDS = 60.0
    MAX_AGE_SECONDS = 3600.0

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySet | None = None,
        jwks_uri: str | None = None,
        jwks_file: Path | None = None,
        fetch: Callable[[str], Mapping[str, Any]] | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks_uri = jwks_uri
        self._fetch = fetch or _fetch_jwks
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        if jwks_file is not None:
            keys = KeySet.import_key_set(json.loads(jwks_file.read_text(encoding="utf-8")))
        self._keys = keys

    def _refresh(self, *, force: bool) -> KeySet:
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self.MAX_AGE_SECONDS
            may_refresh = now - self._fetched_at > self.REFRESH_INTERVAL_SECONDS
            if self._jwks_uri and (self._keys is None or stale or (force and may_refresh)):
                try:
                    document = self._fetch(self._jwks_uri)
                    self._keys = KeySet.import_key_set(dict(document))  # type: ignore[arg-type]
                except (httpx.HTTPError, JoseError, ValueError) as exc:
                    if self._keys is None:
                        raise ServiceUnavailable(
                            f"keys of issuer {self.issuer} unavailable"
                        ) from exc
                self._fetched_at = now
            if self._keys is None:
                raise ServiceUnavailable(f"keys of issuer {self.issuer} unavailable")
            return self._keys

    def key_set(self, kid: str | None) -> KeySet:
        keys = self._refresh(force=False)
        if kid is not None and not any(k.kid == kid for k in keys.keys):
            keys = self._refresh(force=True)
        return keys


def _fetch_jwks(url: str) -> Mapping[str, Any]:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError("a JWKS is an object")
    return document


class TokenVerifier:
    """Checks access tokens against the trusted issuers."""

    def __init__(self, issuers: list[IssuerKeys], *, now: Callable[[], float] = time.time) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._now = now

    def verify(self, token: str) -> tuple[dict[str, Any], str]:
        """Return the token's claims and its issuer; raise :class:`Unauthorized` otherwise."""
        try:
            header, claims = unverified_parts(token)
        except ValueError as exc:
            raise Unauthorized("the access token is not a JWT") from exc
        if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
            raise Unauthorized("the access token's algorithm is not accepted")
        issuer = self._issuers.get(claims.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise Unauthorized("the access token's issuer is not trusted")
        keys = issuer.key_set(header.get("kid"))
        try:
            verified = jwt.decode(token, keys, algorithms=[header["alg"]])
        except JoseError as exc:
            raise Unauthorized("the access token's signature is not valid") from exc
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": issuer.issuer},
            aud={"essential": True, "value": issuer.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(verified.claims)
        except JoseError as exc:
            raise Unauthorized(f"the access token is not valid: {exc.description}") from exc
        return verified.claims, issuer.issuer


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None,
    replay: KeyValue,
    now: float,
) -> str:
    """Check a DPoP proof (RFC 9449 §4.3); return the thumbprint of its key."""

    def refuse(reason: str) -> Unauthorized:
        return Unauthorized(reason, error="invalid_dpop_proof", scheme="DPoP")

    try:
        header, claims = unverified_parts(proof)
    except ValueError as exc:
        raise refuse("the DPoP proof is not a JWT") from exc
    if header.get("typ") != "dpop+jwt":
        raise refuse("the DPoP proof's typ must be dpop+jwt")
    if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
        raise refuse("the DPoP proof's algorithm is not accepted")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise refuse("the DPoP proof carries no public key")
    try:
        key = public_key(jwk)
        verified = jwt.decode(proof, key, algorithms=[header["alg"]])
    except (JoseError, ValueError) as exc:
        raise refuse("the DPoP proof's key or signature is not valid") from exc
    claims = verified.claims
    if claims.get("htm") != method:
        raise refuse("the DPoP proof's htm does not match the request method")
    if not isinstance(claims.get("htu"), str) or _strip_url(claims["htu"]) != _strip_url(url):
        raise refuse("the DPoP proof's htu does not match the request URL")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or not (
        now - DPOP_MAX_AGE_SECONDS <= iat <= now + CLOCK_SKEW_SECONDS
    ):
        raise refuse("the DPoP proof's iat is missing or outside the accepted window")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise refuse("the DPoP proof needs a jti")
    if access_token is not None and claims.get("ath") != b64url_sha256(access_token):
        raise refuse("the DPoP proof's ath does not match the access token")
    jkt = key.thumbprint()
    ttl = DPOP_MAX_AGE_SECONDS + 2 * CLOCK_SKEW_SECONDS
    if not replay.add_once(f"dpop:{jkt}:{jti}", ttl_seconds=ttl):
        raise refuse("the DPoP proof has been used before")
    return jkt


def _strip_url(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None)).lower().rstrip("/")
