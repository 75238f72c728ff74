"""Keys and compact JWTs: public keys only, asymmetric algorithms only, thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from journalloft.platform.core.errors import (
    SIGNING_ALGORITHMS,
)
from journalloft.platform.core.strings import check_claims

ASYMMETRIC_ALGORITHMS = SIGNING_ALGORITHMS


PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


CLOCK_SKEW_SECONDS = 30


PublicKey = ECKey | RSAKey | OKPKey


def b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWT, before anything is trusted; raises ValueError, and
    :class:`~journalloft.platform.core.strings.UnstorableText` (naming where) for a string in either
    that breaks the platform's rule for strings (U+0000, a lone surrogate): every JWT a client
    sends (access token, DPoP proof, client assertion, attestation) is read here first."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (
        JoseError,
        ValueError,
        UnicodeError,
        RecursionError,
    ) as exc:  # a payload nested 1000 deep
        raise ValueError("not a compact JWT") from exc
    header = compact.headers()
    if not isinstance(claims, dict):
        raise ValueError("JWT claims are not an object")
    check_claims("header", header)
    check_claims("claim", claims)
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
