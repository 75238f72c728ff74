"""A client's side of the platform's tokens: the signed client assertion (``private_key_jwt``),
the token request's form, and DPoP proofs (RFC 9449).

One module for every client this repository ships (the board's server side, ``journalloft
token``, the benchmarks). It imports nothing of the platform: a client knows the protocol, not
the server's code.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

from joserfc import jwt
from joserfc.jwk import ECKey, import_key

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url_sha256(text: str) -> str:
    """base64url(SHA-256(text)) without padding: a DPoP proof's ``ath``."""
    digest = hashlib.sha256(text.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def assertion_claims(client_id: str, *, audience: str, lifetime: int = 30) -> dict[str, Any]:
    """A client assertion's claims (RFC 7523): the client as issuer and subject, a fresh
    ``jti``, valid ``lifetime`` seconds."""
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }


def assertion_header(key: ECKey) -> dict[str, Any]:
    """A client assertion's header: ES256, the key's id, and its type (RFC 7523bis)."""
    return {"alg": "ES256", "kid": key.kid, "typ": "client-authentication+jwt"}


def client_assertion(client_id: str, key: ECKey, *, audience: str, lifetime: int = 30) -> str:
    """A client assertion (RFC 7523) for the token endpoint of ``audience``."""
    claims = assertion_claims(client_id, audience=audience, lifetime=lifetime)
    return jwt.encode(assertion_header(key), claims, key)


def token_form(
    client_id: str, key: ECKey, *, audience: str, scope: str | None = None
) -> dict[str, str]:
    """The token request: client credentials with a signed client assertion."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(client_id, key, audience=audience),
    }
    if scope is not None:
        form["scope"] = scope
    return form


def demo_client_form(
    client: Mapping[str, Any], *, audience: str, scope: str | None
) -> dict[str, str]:
    """The token request of a demo client (``client_id``, ``private_jwk``, ``scopes`` as
    ``journalloft demo`` wrote it); without ``scope``, every scope it has."""
    key = import_key(client["private_jwk"])
    assert isinstance(key, ECKey)
    return token_form(
        client["client_id"], key, audience=audience, scope=scope or " ".join(client["scopes"])
    )


def dpop_claims(*, method: str, url: str, access_token: str | None = None) -> dict[str, Any]:
    """A DPoP proof's claims for one request (with ``ath`` when it carries ``access_token``)."""
    claims: dict[str, Any] = {
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
    }
    if access_token is not None:
        claims["ath"] = b64url_sha256(access_token)
    return claims


def dpop_header(key: ECKey) -> dict[str, Any]:
    """A DPoP proof's header: its type and the public key it proves."""
    return {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}


def dpop_proof(key: ECKey, *, method: str, url: str, access_token: str | None = None) -> str:
    """A DPoP proof for one request (with ``ath`` when it carries ``access_token``)."""
    claims = dpop_claims(method=method, url=url, access_token=access_token)
    return jwt.encode(dpop_header(key), claims, key)
