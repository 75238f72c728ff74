"""Access tokens (RFC 9068 JWTs), checked as HelseID's APIs check them, and the principal
they name.

Accepted only from a trusted issuer (HelseID, another configured OIDC issuer, or the built-in
issuer), with ``typ`` ``at+jwt``, signed with an asymmetric algorithm by a key in that issuer's
JWKS, and with ``exp``, ``nbf``, ``iss`` and ``aud`` right. A token bound to a key (``cnf.jkt``)
is accepted only as ``Authorization: DPoP`` with a valid proof of that key (:mod:`.dpop`).
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from journalloft.platform.auth.attestation import Attestation, attestation_from_details
from journalloft.platform.auth.keys import (
    ASYMMETRIC_ALGORITHMS,
    CLOCK_SKEW_SECONDS,
    public_key,
    unverified_parts,
)
from journalloft.platform.auth.scopes import Scopes
from journalloft.platform.core.errors import (
    ServiceUnavailable,
    Unauthorized,
)
from journalloft.platform.core.strings import UnstorableText

HELSEID_CLIENT = "helseid://claims/client/"


ORGNR_PARENT = HELSEID_CLIENT + "claims/orgnr_parent"


ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


AUDIT_READ_SCOPE = "audit:read"


RESTRICTIONS_SCOPE = "restrictions:write"

METRICS_SCOPE = "metrics:read"
"""Read ``GET /metrics``: the built-in issuer grants it with ``admin``."""
"""Marking and lifting restrictions (sperring): the tenant's sources and operators."""


_ORGNR = re.compile(r"^[0-9]{9}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one client, with the scopes its token carries."""

    client_id: str
    scopes: frozenset[str]
    issuer: str
    organisasjonsnummer: str | None = None
    dpop_jkt: str | None = None
    attestation: Attestation | None = None
    expires_at: float | None = None
    """The token's ``exp`` (seconds since the epoch): a event stream ends then."""

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint of the key a token is bound to (``cnf.jkt``), if any."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def principal_from_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    now: float | None = None,
    read_attestation: bool = True,
    scopes: Scopes | None = None,
) -> Principal:
    """Map built-in and HelseID claims to one principal.

    ``client_id`` (else ``sub``) names the client; ``scope`` is a space-separated string or a list
    (HelseID writes a list); ``helseid://claims/client/claims/orgnr_parent`` is the organisation;
    ``cnf.jkt`` the key the token is bound to; ``authorization_details`` a tillitsrammeverk
    attestation dated by the token's ``iat``.
    ``scopes``: the vocabularies the faces bring (SMART's system scopes), whose scopes give the
    native scopes they stand for (translated once for each distinct claim).
    """
    client_id = claims.get("client_id") or claims.get("sub")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 128:
        raise Unauthorized("the token names no client (client_id of 1 to 128 characters)")
    orgnr = claims.get(ORGNR_PARENT)
    if orgnr is not None and not (isinstance(orgnr, str) and _ORGNR.fullmatch(orgnr)):
        raise Unauthorized("the token's orgnr_parent is not an organisasjonsnummer")
    attestation = None
    if read_attestation and "authorization_details" in claims:
        attestation = attestation_from_details(
            claims["authorization_details"],
            issued_at=claims.get("iat"),
            now=time.time() if now is None else now,
            source="token",
        )
    return Principal(
        client_id=client_id,
        scopes=(scopes or _NATIVE_ONLY).granted(claims.get("scope", "")),
        issuer=issuer,
        organisasjonsnummer=orgnr,
        dpop_jkt=bound_key(claims),
        attestation=attestation,
        expires_at=float(exp) if isinstance((exp := claims.get("exp")), int | float) else None,
    )


_NATIVE_ONLY = Scopes()
"""The native scopes alone, where no face brings a vocabulary."""


JwksFetch = Callable[[str], Mapping[str, Any]]
JWKS_MAX_BYTES = 256 * 1024


class IssuerKeys:
    """The signing keys of one trusted issuer, from a key set, a JWKS file, or a JWKS URL.

    Keys are cached; an unknown ``kid`` reloads the source (the URL, or the file for closed
    networks where operators replace it), at most once every ``REFRESH_INTERVAL_SECONDS`` so that
    tokens with made-up ``kid`` values cannot flood the issuer; cached keys are reloaded after
    ``MAX_AGE_SECONDS`` whatever happens. Only public asymmetric signing keys are kept.

    Loading is single flight: one thread fetches, and every request that needs the keys
    meanwhile waits for that fetch (at most ``fetch_timeout_seconds`` + 1 s) and shares its
    result, however many arrive. After a failed load nothing is fetched until a backoff has
    passed (``FIRST_BACKOFF_SECONDS``, doubling with each failure in a row up to
    ``MAX_BACKOFF_SECONDS``), whatever tokens arrive: made-up tokens cannot make the platform
    hammer HelseID.

    A token that needs keys the platform does not have is refused so:

    - no keys have ever loaded (the fetch failed, is backing off, or took longer than the wait):
      503 :class:`ServiceUnavailable`, ``Retry-After`` the seconds until the next fetch may be
      tried. The platform cannot judge the token, and an issuer's outage is not the client's
      fault; a made-up token costs nothing (no fetch).
    - keys have loaded and the token's ``kid`` is not among them (within the refresh interval,
      or while a reload backs off): it is checked against the cached keys and refused 401, as
      any token with a bad signature.
    """

    REFRESH_INTERVAL_SECONDS = 60.0
    MAX_AGE_SECONDS = 3600.0
    FIRST_BACKOFF_SECONDS = 1.0
    MAX_BACKOFF_SECONDS = 60.0
    FETCH_TIMEOUT_SECONDS = 5.0

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySet | None = None,
        jwks_uri: str | None = None,
        jwks_file: Path | None = None,
        fetch: JwksFetch | None = None,
        clock: Callable[[], float] = time.monotonic,
        fetch_timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_uri = jwks_uri
        self.jwks_file = jwks_file
        self._fetch = fetch or functools.partial(fetch_jwks, timeout=fetch_timeout_seconds)
        self._wait_seconds = fetch_timeout_seconds + 1.0
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = keys
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._failures = 0
        self._retry_at = float("-inf")
        self._flight: threading.Event | None = None
        self.loads = 0

    def _load(self) -> KeySet:
        if self.jwks_file is not None:
            document: Any = json.loads(self.jwks_file.read_text(encoding="utf-8"))
        else:
            assert self.jwks_uri is not None
            document = self._fetch(self.jwks_uri)
        self.loads += 1
        members = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(members, list):
            raise ValueError("a JWKS is an object with keys")
        keys = []
        for jwk in members:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys.append(public_key(jwk))
            except (JoseError, ValueError):
                continue
        return KeySet(keys)  # type: ignore[arg-type]

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed loads in a row before the next is tried."""
        doubled = self.FIRST_BACKOFF_SECONDS * 2 ** (min(failures, 32) - 1)
        return float(min(self.MAX_BACKOFF_SECONDS, doubled))

    def _due(self, kid: str | None, now: float) -> bool:
        """Whether to load the keys now for a token with ``kid`` (the caller holds the lock)."""
        if now < self._retry_at:
            return False
        if self._keys is None or self._loaded_at is None:
            return True
        if now - self._loaded_at > self.MAX_AGE_SECONDS:
            return True
        if kid is None or any(k.kid == kid for k in self._keys.keys):
            return False
        last = self._attempted_at if self._attempted_at is not None else self._loaded_at
        return now - last > self.REFRESH_INTERVAL_SECONDS

    def _cached(self, now: float) -> KeySet:
        """The keys as they are (caller holds the lock); 503 if there are none."""
        if self._keys is None:
            retry_after = math.ceil(self._retry_at - now) if self._retry_at > now else 1
            raise ServiceUnavailable(
                f"the keys of issuer {self.issuer} are unavailable", retry_after=max(1, retry_after)
            )
        return self._keys

    def _fly(self, flight: threading.Event) -> None:
        """Load the keys for everyone waiting on ``flight``; back off if that fails."""
        keys = None
        try:
            keys = self._load()
        except (httpx.HTTPError, OSError, JoseError, ValueError):
            pass  # the waiting requests get the cached keys, or a 503
        finally:
            with self._lock:
                now = self._clock()
                self._attempted_at = now
                if keys is not None:
                    self._keys = keys
                    self._loaded_at = now
                    self._failures = 0
                    self._retry_at = float("-inf")
                else:
                    self._failures += 1
                    self._retry_at = now + self.backoff(self._failures)
                self._flight = None
            flight.set()

    def key_set(self, kid: str | None) -> KeySet:
        """The issuer's keys, loaded first if due for ``kid`` (see the class docstring)."""
        if self.jwks_uri is None and self.jwks_file is None:
            assert self._keys is not None
            return self._keys
        with self._lock:
            if not self._due(kid, self._clock()):
                return self._cached(self._clock())
            flight = self._flight
            leading = flight is None
            if flight is None:
                flight = self._flight = threading.Event()
        if leading:
            self._fly(flight)
        else:
            flight.wait(self._wait_seconds)
        with self._lock:
            return self._cached(self._clock())


def fetch_jwks(
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """GET a JWKS document: no redirects, at most ``timeout`` seconds in all (not per read, so a
    server that trickles its answer is cut off too; ``clock`` measures them) and at most
    256 kB."""
    deadline = clock() + timeout
    body = bytearray()
    with (
        httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client,
        client.stream("GET", url, headers={"Accept": "application/json"}) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError("the JWKS is larger than 256 kB")
            if clock() > deadline:
                raise httpx.ReadTimeout(f"the JWKS took more than {timeout} s", request=None)
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("a JWKS is an object")
    return document


class TokenVerifier:
    """Checks access tokens against the trusted issuers.

    A token that passed is remembered until it expires (the signature check is most of the cost
    of a small request); its DPoP proof, scopes and grants are still checked on every request. A
    key withdrawn from an issuer's JWKS therefore stops only new tokens, as with any JWT.
    """

    CACHE_SIZE = 10_000

    def __init__(self, issuers: list[IssuerKeys], *, now: Callable[[], float] = time.time) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._now = now
        self._verified: dict[str, tuple[dict[str, Any], str, float]] = {}
        self._lock = threading.Lock()

    def _remember(self, token: str, claims: dict[str, Any], issuer: str) -> None:
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return
        with self._lock:
            if len(self._verified) >= self.CACHE_SIZE:
                now = self._now()
                self._verified = {
                    t: entry
                    for t, entry in self._verified.items()
                    if entry[2] + CLOCK_SKEW_SECONDS >= now
                }
                if len(self._verified) >= self.CACHE_SIZE:
                    self._verified.clear()
            self._verified[token] = (claims, issuer, float(expires))

    def issuers(self) -> list[IssuerKeys]:
        return list(self._issuers.values())

    def remembered(self, token: str) -> tuple[dict[str, Any], str] | None:
        """The claims and issuer of a token that passed and has not expired; None otherwise (then
        :meth:`verify` decides, and may have to fetch the issuer's keys)."""
        known = self._verified.get(token)
        if known is None:
            return None
        claims, issuer_url, expires = known
        if self._now() < expires + CLOCK_SKEW_SECONDS:  # as RFC 7519: expired at exp
            return claims, issuer_url
        with self._lock:
            self._verified.pop(token, None)
        return None

    def verify(self, token: str, *, scheme: str = "Bearer") -> tuple[dict[str, Any], str]:
        """Return the token's claims and its issuer; raise :class:`Unauthorized` otherwise."""

        def refuse(reason: str) -> Unauthorized:
            return Unauthorized(reason, scheme=scheme)

        known = self.remembered(token)
        if known is not None:
            return known
        try:
            header, claims = unverified_parts(token)
        except UnstorableText as exc:
            raise refuse(f"the access token's {exc}") from exc
        except ValueError as exc:
            raise refuse("the access token is not a JWT") from exc
        if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
            raise refuse("the access token's algorithm is not accepted")
        if header.get("typ") not in ACCESS_TOKEN_TYPES:
            raise refuse("the access token's typ must be at+jwt")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise refuse("the access token's kid is not a string")
        iss = claims.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise refuse("the access token's issuer is not trusted")
        keys = issuer.key_set(kid)
        try:
            verified = jwt.decode(token, keys, algorithms=[header["alg"]])
        except (JoseError, ValueError) as exc:
            raise refuse("the access token's key or signature is not valid") from exc
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
            raise refuse(f"the access token is not valid: {exc.description}") from exc
        self._remember(token, verified.claims, issuer.issuer)
        return verified.claims, issuer.issuer
