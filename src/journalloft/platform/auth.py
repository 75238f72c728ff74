"""Access tokens, DPoP proofs and trust-framework attestations, checked as HelseID's APIs do.

Access tokens (RFC 9068 JWTs): accepted only from a trusted issuer (HelseID, another configured OIDC
issuer, or the built-in issuer), with ``typ`` ``at+jwt``, signed with an asymmetric algorithm by a
key in that issuer's JWKS, and with ``exp``, ``nbf``, ``iss`` and ``aud`` right. A token bound to a
key (``cnf.jkt``) is accepted only as ``Authorization: DPoP`` with a valid proof of that key.

DPoP proofs (RFC 9449 §4.3): ``typ`` ``dpop+jwt``, an asymmetric ``alg``, a public ``jwk`` only, a
valid signature, ``htm`` and ``htu`` of this request (scheme and host compared case-insensitively,
default ports dropped, the path exactly after percent-encoding normalisation; query and fragment
ignored), ``iat`` at most 60 s old and 30 s ahead, ``ath`` the hash of the access token, and a
``jti`` never seen before for this key (the replay cache keeps it for the proof's whole window).

Trust-framework attestations (tillitsrammeverk, ``authorization_details`` of type
``nhn:tillitsrammeverk:parameters``) come either as the access token's ``authorization_details``
claim, as HelseID puts them (dated by the token's ``iat``), or as a JWT in the
``Tillitsrammeverk-Attestation`` request header, signed with the DPoP key the token is bound to
(see :func:`attestation_from_header`). Either way at most 60 minutes old. The practitioner's
national id is never kept: only name and HPR number.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey, import_key

from journalloft.platform.errors import (
    SIGNING_ALGORITHMS,
    Forbidden,
    ServiceUnavailable,
    Unauthorized,
)
from journalloft.platform.identifiers import parse_organisasjonsnummer
from journalloft.platform.kv import KeyValue

ASYMMETRIC_ALGORITHMS = SIGNING_ALGORITHMS
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
HELSEID_CLIENT = "helseid://claims/client/"
ORGNR_PARENT = HELSEID_CLIENT + "claims/orgnr_parent"
ORGNR_CHILD = HELSEID_CLIENT + "claims/orgnr_child"
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
CLOCK_SKEW_SECONDS = 30
DPOP_MAX_AGE_SECONDS = 60

AUDIT_READ_SCOPE = "audit:read"
RESTRICTIONS_SCOPE = "restrictions:write"
"""Marking and lifting restrictions (sperring): the tenant's sources and operators."""

TILLITSRAMMEVERK = "nhn:tillitsrammeverk:parameters"
ATTESTATION_HEADER = "Tillitsrammeverk-Attestation"
ATTESTATION_JWT_TYPE = "tillitsrammeverk+jwt"
ATTESTATION_MAX_AGE_SECONDS = 60 * 60
PURPOSES_OF_USE = frozenset({"ETREAT", "TREAT", "COC", "BTG"})
"""HL7 PurposeOfUse codes accepted for a lookup: the acute chain incl. legevakt, treatment,
coordination of care, and break the glass."""
BREAK_THE_GLASS = "BTG"
_HPR = re.compile(r"^[0-9]{1,16}$")
_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,32}$")
_ORGNR = re.compile(r"^[0-9]{9}$")

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
    if jwk.get("kty") not in ("EC", "RSA", "OKP"):
        raise ValueError("only EC, RSA and OKP public keys are accepted")
    if PRIVATE_JWK_MEMBERS & set(jwk):
        raise ValueError("a public key must not carry private members")
    key = import_key(dict(jwk))
    assert isinstance(key, ECKey | RSAKey | OKPKey)
    return key


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key."""
    return public_key(jwk).thumbprint()


class AttestationRefused(Forbidden):
    """403: the trust-framework attestation is malformed, too old, or not the caller's."""

    title = "Attestation refused"
    slug = "attestation-refused"


@dataclass(frozen=True, slots=True)
class Attestation:
    """The trust-framework context (tillitsrammeverk) a consumer sent for this access.

    Never holds the practitioner's national id (``pid``): only what the audit log and the
    citizen's view of it may show.
    """

    purpose: str
    legal_entity: str
    point_of_care: str
    healthcare_service: str
    practitioner_name: str | None = None
    practitioner_hpr: str | None = None
    decision_ref: str | None = None
    issued_at: float = 0.0
    source: str = "token"

    @property
    def names_practitioner(self) -> bool:
        return bool(self.practitioner_name or self.practitioner_hpr)

    @property
    def break_the_glass(self) -> bool:
        return self.purpose == BREAK_THE_GLASS

    def as_details(self) -> dict[str, Any]:
        """The attestation as ``authorization_details`` (what the built-in issuer puts in a
        token): the same structure it was read from, without any national id."""
        practitioner: dict[str, Any] = {
            "legal_entity": {"id": self.legal_entity, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
            "point_of_care": {
                "id": self.point_of_care,
                "system": "urn:oid:2.16.578.1.12.4.1.4.101",
            },
        }
        if self.practitioner_name:
            practitioner["identifier"] = {"name": self.practitioner_name}
        if self.practitioner_hpr:
            practitioner["hpr_nr"] = {
                "id": self.practitioner_hpr,
                "system": "urn:oid:2.16.578.1.12.4.1.4.4",
            }
        care: dict[str, Any] = {
            "healthcare_service": {
                "code": self.healthcare_service,
                "system": "urn:oid:2.16.578.1.12.4.1.1.8663",
            },
            "purpose_of_use": {
                "code": self.purpose,
                "system": "urn:oid:2.16.840.1.113883.1.11.20448",
            },
        }
        if self.decision_ref:
            care["decision_ref"] = {"id": self.decision_ref}
        return {"type": TILLITSRAMMEVERK, "practitioner": practitioner, "care_relationship": care}


def _member(document: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def _text(value: Any, *, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise AttestationRefused(f"the attestation's {field} must be text of 1 to {limit} chars")
    return value.strip()


def _identifier(value: Any) -> Any:
    """``{"id": ...}`` (or ``value``/``code``) as HelseID writes it, or the bare value."""
    if isinstance(value, dict):
        for name in ("id", "value", "code"):
            if name in value:
                return value[name]
        return None
    return value


def _organisation(value: Any, *, field: str) -> str:
    number = _identifier(value)
    try:
        return parse_organisasjonsnummer(number)
    except ValueError as exc:
        raise AttestationRefused(
            f"the attestation's {field} must be an organisasjonsnummer: {exc}"
        ) from exc


def attestation_from_details(
    details: Any, *, issued_at: Any, now: float, source: str
) -> Attestation | None:
    """Read the tillitsrammeverk entry of ``authorization_details`` (RFC 9396).

    ``details`` is a list of entries, one entry, or either as a JSON string (as HelseID's request
    objects carry it). Entries of other types are not ours and are ignored; None if there is no
    tillitsrammeverk entry. Required: ``practitioner.legal_entity`` and ``point_of_care``
    (organisasjonsnummer), ``care_relationship.healthcare_service`` and ``purpose_of_use`` (one of
    ETREAT, TREAT, COC, BTG). Optional: the practitioner's name (``identifier``, ``pid`` or
    ``subject``: only its ``name`` is read) and HPR number (``hpr_nr``), and ``decision_ref``.
    ``issued_at`` dates it: refused when missing, more than 60 minutes old, or in the future.
    """
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError as exc:
            raise AttestationRefused("authorization_details is not JSON") from exc
    entries = details if isinstance(details, list) else [details]
    ours = [e for e in entries if _member(e, "type") == TILLITSRAMMEVERK]
    if not ours:
        return None
    if len(ours) > 1:
        raise AttestationRefused(f"more than one {TILLITSRAMMEVERK} entry")
    entry = ours[0]
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise AttestationRefused("the attestation is not dated (iat)")
    if now - issued_at > ATTESTATION_MAX_AGE_SECONDS:
        raise AttestationRefused("the attestation is older than 60 minutes")
    if issued_at > now + CLOCK_SKEW_SECONDS:
        raise AttestationRefused("the attestation is dated in the future")
    practitioner = _member(entry, "practitioner")
    care = _member(entry, "care_relationship")
    if not isinstance(practitioner, dict) or not isinstance(care, dict):
        raise AttestationRefused("the attestation needs practitioner and care_relationship")
    purpose = _identifier(care.get("purpose_of_use"))
    if purpose not in PURPOSES_OF_USE:
        raise AttestationRefused(
            "the attestation's purpose_of_use must be one of " + ", ".join(sorted(PURPOSES_OF_USE))
        )
    service = _identifier(care.get("healthcare_service"))
    if not isinstance(service, str) or not _CODE.fullmatch(service):
        raise AttestationRefused("the attestation's healthcare_service needs a code (e.g. KA02)")
    name = None
    for member in ("identifier", "pid", "subject"):
        name = name or _text(
            _member(practitioner, member, "name"), field="practitioner name", limit=200
        )
    hpr = _identifier(practitioner.get("hpr_nr"))
    if hpr is not None and (not isinstance(hpr, str) or not _HPR.fullmatch(hpr)):
        raise AttestationRefused("the attestation's hpr_nr must be digits")
    legal_entity = practitioner.get("legal_entity") or care.get("legal_entity")
    point_of_care = practitioner.get("point_of_care") or care.get("point_of_care")
    decision = care.get("decision_ref")
    if isinstance(decision, dict):
        decision = decision.get("id") or decision.get("ref_id")
    decision_ref = _text(decision, field="decision_ref", limit=128)
    return Attestation(
        purpose=purpose,
        legal_entity=_organisation(legal_entity, field="legal_entity"),
        point_of_care=_organisation(point_of_care, field="point_of_care"),
        healthcare_service=service,
        practitioner_name=name,
        practitioner_hpr=hpr,
        decision_ref=decision_ref,
        issued_at=float(issued_at),
        source=source,
    )


def attestation_from_header(
    value: str, *, client_id: str, dpop_jkt: str | None, audience: str, now: float
) -> Attestation:
    """Read an attestation sent as the ``Tillitsrammeverk-Attestation`` request header.

    The header is a compact JWT: protected header ``typ`` ``tillitsrammeverk+jwt``, an asymmetric
    ``alg`` and the public ``jwk`` of the key that signed it, which must be the key the access
    token is bound to (so only a DPoP-bound caller can send one); claims ``iss`` = the client id,
    ``aud`` = the platform's public URL, ``iat`` (at most 60 minutes old), optional ``exp``, and
    ``authorization_details`` as in :func:`attestation_from_details`.
    """
    try:
        header, _ = unverified_parts(value)
    except ValueError as exc:
        raise AttestationRefused("the attestation header is not a JWT") from exc
    if header.get("typ") != ATTESTATION_JWT_TYPE:
        raise AttestationRefused(f"the attestation's typ must be {ATTESTATION_JWT_TYPE}")
    if header.get("alg") not in ASYMMETRIC_ALGORITHMS or not isinstance(header.get("jwk"), dict):
        raise AttestationRefused("the attestation must be signed with the DPoP key (alg, jwk)")
    try:
        key = public_key(header["jwk"])
        claims = jwt.decode(value, key, algorithms=[header["alg"]]).claims
    except (JoseError, ValueError) as exc:
        raise AttestationRefused("the attestation's key or signature is not valid") from exc
    if dpop_jkt is None or key.thumbprint() != dpop_jkt:
        raise AttestationRefused("the attestation is not signed with the token's DPoP key")
    if claims.get("iss") != client_id:
        raise AttestationRefused("the attestation's iss must be the client id")
    audiences = claims.get("aud")
    if audience not in (audiences if isinstance(audiences, list) else [audiences]):
        raise AttestationRefused(f"the attestation's aud must be {audience}")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < now - CLOCK_SKEW_SECONDS):
        raise AttestationRefused("the attestation has expired")
    attestation = attestation_from_details(
        claims.get("authorization_details"), issued_at=claims.get("iat"), now=now, source="header"
    )
    if attestation is None:
        raise AttestationRefused(f"the attestation has no {TILLITSRAMMEVERK} entry")
    return attestation


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one client, with the scopes its token carries."""

    client_id: str
    scopes: frozenset[str]
    issuer: str
    organisasjonsnummer: str | None = None
    dpop_jkt: str | None = None
    attestation: Attestation | None = None

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
) -> Principal:
    """Map built-in and HelseID claims to one principal.

    ``client_id`` (else ``sub``) names the client; ``scope`` is a space-separated string or a list
    (HelseID writes a list); ``helseid://claims/client/claims/orgnr_parent`` is the organisation;
    ``cnf.jkt`` the key the token is bound to; ``authorization_details`` a tillitsrammeverk
    attestation dated by the token's ``iat``.
    """
    scope = claims.get("scope", "")
    names = scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else []
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
        scopes=frozenset(n for n in names if isinstance(n, str)),
        issuer=issuer,
        organisasjonsnummer=orgnr,
        dpop_jkt=bound_key(claims),
        attestation=attestation,
    )


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
    url: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 5.0
) -> Mapping[str, Any]:
    """GET a JWKS document: no redirects, at most ``timeout`` seconds in all (not per read, so a
    server that trickles its answer is cut off too) and at most 256 kB."""
    deadline = time.monotonic() + timeout
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
            if time.monotonic() > deadline:
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
        if self._now() <= expires + CLOCK_SKEW_SECONDS:
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


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_htu(url: str) -> str:
    """A URL as RFC 9449 compares ``htu``: without query and fragment, after RFC 3986 syntax- and
    scheme-based normalisation (scheme and host in lower case, default port dropped, percent
    encodings in upper case and unreserved characters decoded, an empty path as ``/``). The path
    is otherwise compared exactly: ``/V1/x`` and ``/v1/x/`` are other resources than ``/v1/x``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"

    def percent(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    path = _PERCENT.sub(percent, parts.path) or "/"
    return f"{scheme}://{netloc}{path}"


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None,
    replay: KeyValue,
    now: float,
) -> str:
    """Check a DPoP proof (RFC 9449 §4.3); return the thumbprint of its key.

    Raises :class:`Unauthorized` with ``error="invalid_dpop_proof"`` in a ``DPoP`` challenge.
    """

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
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
        raise refuse("the DPoP proof's htu does not match the request URL")
    iat = claims.get("iat")
    if (
        not isinstance(iat, int | float)
        or isinstance(iat, bool)
        or not (now - DPOP_MAX_AGE_SECONDS <= iat <= now + CLOCK_SKEW_SECONDS)
    ):
        raise refuse("the DPoP proof's iat is missing or outside the accepted window")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise refuse("the DPoP proof needs a jti of 8 to 256 characters")
    if access_token is not None and claims.get("ath") != b64url_sha256(access_token):
        raise refuse("the DPoP proof's ath does not match the access token")
    jkt = key.thumbprint()
    ttl = DPOP_MAX_AGE_SECONDS + 2 * CLOCK_SKEW_SECONDS
    if not replay.add_once(f"dpop:{jkt}:{jti}", ttl_seconds=ttl):
        raise refuse("the DPoP proof has been used before")
    return jkt
