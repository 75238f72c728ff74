"""DPoP proofs (RFC 9449 §4.3), checked as HelseID's APIs check them.

``typ`` ``dpop+jwt``, an asymmetric ``alg``, a public ``jwk`` only, a valid signature, ``htm`` and
``htu`` of this request (scheme and host compared case-insensitively, default ports dropped, the
path exactly after percent-encoding normalisation; query and fragment ignored), ``iat`` at most
60 s old and 30 s ahead, ``ath`` the hash of the access token, and a ``jti`` never seen before for
this key (the replay cache keeps it for the proof's whole window).
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError

from journalloft.platform.auth.keys import (
    ASYMMETRIC_ALGORITHMS,
    CLOCK_SKEW_SECONDS,
    b64url_sha256,
    public_key,
    unverified_parts,
)
from journalloft.platform.core.errors import (
    Unauthorized,
)
from journalloft.platform.core.strings import UnstorableText
from journalloft.platform.storage.kv import KeyValue

DPOP_MAX_AGE_SECONDS = 60


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
    except UnstorableText as exc:
        raise refuse(f"the DPoP proof's {exc}") from exc
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
