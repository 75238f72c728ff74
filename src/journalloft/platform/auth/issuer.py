"""The built-in token issuer: mimics HelseID for development, tests and pilots.

``client_credentials`` with ``private_key_jwt`` client authentication (RFC 7523) and optional DPoP
binding (RFC 9449). The scopes a client may get follow from the tenants' grants. Production turns it
off and trusts HelseID instead.

Client assertion rules, as HelseID's: ``iss`` = ``sub`` = a registered client, signed with an
asymmetric algorithm by one of its registered public keys, ``aud`` the issuer (or its token
endpoint), ``exp`` at most 60 s ahead (and at most 60 s after ``iat`` when it is given), a ``jti``
used only once (remembered past the assertion's lifetime), ``typ`` absent, ``JWT`` or
``client-authentication+jwt``. A token request may carry ``authorization_details`` (RFC 9396) with a
tillitsrammeverk entry, which the token then carries as HelseID's do, without any national id.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, import_key

from journalloft.platform.auth.attestation import AttestationRefused, attestation_from_details
from journalloft.platform.auth.clients import client_keys, get_client
from journalloft.platform.auth.dpop import verify_dpop_proof
from journalloft.platform.auth.keys import (
    ASYMMETRIC_ALGORITHMS,
    CLOCK_SKEW_SECONDS,
    unverified_parts,
)
from journalloft.platform.auth.scopes import Scopes
from journalloft.platform.auth.tokens import (
    AUDIT_READ_SCOPE,
    METRICS_SCOPE,
    ORGNR_PARENT,
    RESTRICTIONS_SCOPE,
    IssuerKeys,
)
from journalloft.platform.core.errors import OAuthError, Unauthorized
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.strings import UnstorableText
from journalloft.platform.storage.directory import TenantDirectory
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.kv import KeyValue

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_LIFETIME_SECONDS = 60
ASSERTION_TYPES = (None, "JWT", "client-authentication+jwt")


def oauth_error(error: str, description: str, *, status: int = 400) -> OAuthError:
    """An RFC 6749 §5.2 error of the token endpoint."""
    return OAuthError(error, description, status=status)


NOT_AUTHENTICATED = "the client could not be authenticated with this assertion"
CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
"""What a client id can be: 1 to 128 printable ASCII characters without spaces."""
"""One answer for an unknown client, a client without keys and a bad signature: the token
endpoint does not tell a stranger which client ids exist."""
_DECOY_KEYS = KeySet.import_key_set(
    {"keys": [ECKey.generate_key("P-256", auto_kid=True).as_dict(private=False)]}
)


def load_signing_key(settings: Settings) -> ECKey:
    """The issuer's signing key: the configured file, or a development key made on first use."""
    path = settings.issuer_key_file or settings.data_path / "issuer-dev-key.json"
    if path.exists():
        key = import_key(json.loads(path.read_text(encoding="utf-8")))
        if not isinstance(key, ECKey) or key.curve_name != "P-256" or not key.is_private:
            # the issuer signs with ES256: anything else would fail at the first token request
            raise ValueError(f"{path}: the issuer key must be a private EC key on P-256 (ES256)")
        return key
    if settings.issuer_key_file is not None:
        raise FileNotFoundError(f"issuer key file {path} does not exist")
    key = ECKey.generate_key("P-256", auto_kid=True)
    _write_private(path, key.as_dict(private=True))
    return key


def _write_private(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle)


class BuiltinIssuer:
    def __init__(
        self,
        *,
        settings: Settings,
        stores: Stores,
        tenants: TenantDirectory,
        replay: KeyValue,
        key: ECKey,
    ) -> None:
        self.url = settings.issuer_url
        self.audience = settings.audience
        self.lifetime = settings.access_token_lifetime_seconds
        self._stores = stores
        self._tenants = tenants
        self._replay = replay
        self._key = key

    @property
    def token_endpoint(self) -> str:
        return self.url + "/oauth/token"

    def metadata(self, scopes: list[str]) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.url + "/oauth/jwks",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
            "dpop_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
            "scopes_supported": scopes,
            "response_types_supported": ["token"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._key.as_dict(private=False), "use": "sig", "alg": "ES256"}]}

    def issuer_keys(self) -> IssuerKeys:
        return IssuerKeys(
            issuer=self.url,
            audience=self.audience,
            keys=KeySet([import_key(self.jwks()["keys"][0])]),
        )

    def allowed_scopes(self, client_id: str, *, admin: bool) -> set[str]:
        scopes = {"admin", METRICS_SCOPE} if admin else set()
        for tenant in self._tenants.all():
            for grant in tenant.sources:
                if grant.client_id == client_id:
                    scopes |= {f"{s}:write" for s in grant.services if tenant.has_service(s)}
                    scopes.add(RESTRICTIONS_SCOPE)
            for grant in tenant.consumers:
                if grant.client_id == client_id:
                    scopes |= {f"{s}:read" for s in grant.services if tenant.has_service(s)}
            if tenant.is_operator(client_id):
                scopes |= {AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE}
        return scopes

    def _organisation(self, owner: str | None) -> str | None:
        """The organisation a client's tokens name (``orgnr_parent``): the organisasjonsnummer of
        the tenant that owns it, whoever else names it; none for the platform operator's."""
        tenant = self._tenants.get(owner) if owner is not None else None
        return tenant.organisasjonsnummer if tenant else None

    def _authenticate(self, assertion: str, *, now: float) -> str:
        try:
            header, claims = unverified_parts(assertion)
        except UnstorableText as exc:
            raise oauth_error(
                "invalid_client", f"the client assertion's {exc}", status=401
            ) from exc
        except ValueError as exc:
            raise oauth_error(
                "invalid_client", "the client assertion is not a JWT", status=401
            ) from exc
        client_id = claims.get("iss")
        if isinstance(client_id, str) and not CLIENT_ID.fullmatch(client_id):
            # no registered client has such an id (U+0000 would not even reach PostgreSQL)
            raise oauth_error("invalid_client", NOT_AUTHENTICATED, status=401)
        if not isinstance(client_id, str) or claims.get("sub") != client_id:
            raise oauth_error(
                "invalid_client",
                "the assertion's iss and sub must both be the client_id",
                status=401,
            )
        if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
            raise oauth_error(
                "invalid_client", "the assertion's algorithm is not accepted", status=401
            )
        if header.get("typ") not in ASSERTION_TYPES:
            raise oauth_error(
                "invalid_client",
                "the assertion's typ must be client-authentication+jwt",
                status=401,
            )
        with self._stores.platform_engine.connect() as connection:
            keys = client_keys(connection, client_id)
        # An unknown client's assertion is checked against a decoy key, so that it takes as long
        # and is refused with the same words as a known client's with a bad signature.
        key_set = KeySet.import_key_set({"keys": keys}) if keys else _DECOY_KEYS
        try:
            verified = jwt.decode(assertion, key_set, algorithms=[header["alg"]])
        except (JoseError, ValueError) as exc:
            raise oauth_error("invalid_client", NOT_AUTHENTICATED, status=401) from exc
        if not keys:
            raise oauth_error("invalid_client", NOT_AUTHENTICATED, status=401)
        audience = verified.claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not {self.url, self.token_endpoint} & set(audiences):
            raise oauth_error(
                "invalid_client", "the assertion's aud must be the issuer", status=401
            )
        exp = verified.claims.get("exp")
        if not isinstance(exp, int | float) or exp < now - CLOCK_SKEW_SECONDS:
            raise oauth_error("invalid_client", "the assertion has expired", status=401)
        iat = verified.claims.get("iat")
        if exp > now + ASSERTION_MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS or (
            isinstance(iat, int | float) and exp - iat > ASSERTION_MAX_LIFETIME_SECONDS
        ):
            raise oauth_error(
                "invalid_client", "the assertion's exp is more than 60 s ahead", status=401
            )
        nbf = verified.claims.get("nbf", verified.claims.get("iat"))
        if isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW_SECONDS:
            raise oauth_error("invalid_client", "the assertion is not valid yet", status=401)
        jti = verified.claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise oauth_error("invalid_client", "the assertion needs a jti", status=401)
        ttl = ASSERTION_MAX_LIFETIME_SECONDS + 3 * CLOCK_SKEW_SECONDS
        if not self._replay.add_once(f"assertion:{client_id}:{jti}", ttl_seconds=ttl):
            raise oauth_error("invalid_client", "the assertion has been used before", status=401)
        return client_id

    @staticmethod
    def _attestation(details: str, *, now: float) -> dict[str, Any]:
        """The tillitsrammeverk entry of a token request, checked and without any national id."""
        try:
            attestation = attestation_from_details(details, issued_at=now, now=now, source="token")
        except AttestationRefused as exc:
            raise oauth_error("invalid_authorization_details", exc.detail) from exc
        if attestation is None:
            raise oauth_error(
                "invalid_authorization_details",
                "only authorization_details of type nhn:tillitsrammeverk:parameters are issued",
            )
        return attestation.as_details()

    @staticmethod
    def _refused_scopes(requested: set[str], allowed: set[str], scopes: Scopes) -> str | None:
        """Why the requested scopes are refused (None: they are all given).

        A native scope is given if the client's grants allow it; a scope of a face's vocabulary
        (SMART's ``system/Observation.rs``) if its grants allow at least one of the native scopes
        it stands for (the token carries it as asked, and is worth what the grants allow at each
        request); anything else is refused, in the vocabulary's words where it has its syntax."""
        if not requested:
            return "scopes not granted to this client: (none granted)"
        ungranted: list[str] = []
        foreign: list[str] = []
        supported: dict[str, None] = {}
        for scope in sorted(requested):
            if scope in allowed:
                continue
            natives = scopes.stands_for(scope)
            explained = scopes.explain(scope) if natives is None else None
            if natives is not None and natives & allowed:
                continue  # given, for the native scopes the grants allow
            if natives is not None:
                stands = ", ".join(sorted(natives))
                ungranted.append(f"{scope} (stands for {stands}: none granted to this client)")
            elif explained is None:
                ungranted.append(scope)
            else:
                foreign.append(f"{scope}: {explained[0]}")
                if explained[1]:
                    supported[explained[1]] = None
        reasons = []
        if ungranted:
            reasons.append("scopes not granted to this client: " + " ".join(ungranted))
        if foreign:
            reasons.append("scopes not supported: " + "; ".join(foreign))
        reasons.extend(supported)
        return ". ".join(reasons) if reasons else None

    def token(
        self,
        form: Mapping[str, str],
        *,
        dpop: str | None,
        now: float | None = None,
        scopes: Scopes | None = None,
    ) -> dict[str, Any]:
        """Answer a token request (RFC 6749 §4.4 with RFC 7523 client authentication);
        ``scopes``: the vocabularies the faces bring besides the native scopes."""
        now = time.time() if now is None else now
        if not form.get("grant_type"):
            raise oauth_error("invalid_request", "grant_type is required")
        if form.get("grant_type") != "client_credentials":
            raise oauth_error("unsupported_grant_type", "only client_credentials is supported")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise oauth_error(
                "invalid_client",
                f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
                status=401,
            )
        client_id = self._authenticate(form.get("client_assertion", ""), now=now)
        if form.get("client_id") not in (None, client_id):
            raise oauth_error(
                "invalid_client", "client_id does not match the assertion", status=401
            )
        with self._stores.platform_engine.connect() as connection:
            client = get_client(connection, client_id)
        allowed = self.allowed_scopes(client_id, admin=bool(client and client["admin"]))
        requested = set(form.get("scope", "").split()) or allowed
        refusal = self._refused_scopes(requested, allowed, scopes or Scopes())
        if refusal is not None:
            raise oauth_error("invalid_scope", refusal)
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": client_id,
            "aud": self.audience,
            "client_id": client_id,
            "scope": " ".join(sorted(requested)),
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        organisation = self._organisation(client["owner"] if client else None)
        if organisation:
            claims[ORGNR_PARENT] = organisation
        if form.get("authorization_details"):
            claims["authorization_details"] = [
                self._attestation(form["authorization_details"], now=now)
            ]
        token_type = "Bearer"
        if dpop is not None:
            try:
                jkt = verify_dpop_proof(
                    dpop,
                    method="POST",
                    url=self.token_endpoint,
                    access_token=None,
                    replay=self._replay,
                    now=now,
                )
            except Unauthorized as exc:
                raise oauth_error("invalid_dpop_proof", exc.detail) from exc
            claims["cnf"] = {"jkt": jkt}
            token_type = "DPoP"
        header = {"alg": "ES256", "kid": self._key.kid, "typ": "at+jwt"}
        return {
            "access_token": jwt.encode(header, claims, self._key),
            "token_type": token_type,
            "expires_in": self.lifetime,
            "scope": claims["scope"],
        }
