"""The platform's errors, each rendered as ``application/problem+json`` (RFC 9457).

Problem                      500  unexpected (only the middleware answers with it)
 ├── BadRequest              400  malformed JSON or request
 ├── Unauthorized            401  missing or invalid token (with WWW-Authenticate)
 ├── Forbidden               403  valid token without the right
 │    └── AttestationRefused 403  (auth.attestation) the trust-framework attestation is not valid
 ├── NotFound                404  unknown tenant, service or record
 ├── MethodNotAllowed        405
 ├── PayloadTooLarge         413
 ├── UnsupportedMediaType    415
 ├── InvalidContent          422  with ``errors``: JSON Pointer and message per violation
 ├── RateLimited             429  with Retry-After
 ├── ServiceUnavailable      503  a dependency is down, with Retry-After
 │    └── AuditUnavailable   503  (audit) the audit event could not be written
 └── OAuthError              400/401 the token endpoint's RFC 6749 §5.2 errors, as application/json
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One violation: where in the request body (JSON Pointer) and what is wrong."""

    pointer: str
    message: str

    def at(self, prefix: str) -> FieldError:
        return FieldError(prefix + self.pointer, self.message)


class Problem(Exception):
    status: int = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal-error"
    media_type: ClassVar[str] = PROBLEM_JSON

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        if status is not None:
            self.status = status
        self.detail = detail
        self.instance_title = title or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:journalloft:problem:{self.slug}",
            "title": self.instance_title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [{"pointer": e.pointer, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status = 400
    title = "Malformed request"
    slug = "malformed-request"


SIGNING_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
"""The JWS algorithms accepted for tokens, client assertions and DPoP proofs: asymmetric only."""


def _quoted(value: str) -> str:
    """An RFC 9110 quoted-string of printable ASCII (anything else becomes ``?``)."""
    printable = "".join(c if " " <= c <= "~" else "?" for c in value)
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Unauthorized(Problem):
    """401 with a ``WWW-Authenticate`` challenge in the scheme the client used (RFC 6750, RFC 9449
    §7.1). ``error=None`` is for a request that carried no credentials at all: the challenge then
    names no error. A ``Bearer`` challenge also offers ``DPoP``."""

    status = 401
    title = "Not authenticated"
    slug = "not-authenticated"

    def __init__(
        self, detail: str, *, error: str | None = "invalid_token", scheme: str = "Bearer"
    ) -> None:
        algs = f"algs={_quoted(' '.join(SIGNING_ALGORITHMS))}"
        params = f"error={_quoted(error)}, error_description={_quoted(detail)}" if error else ""
        if scheme == "DPoP":
            challenge = f"DPoP {params}, {algs}" if params else f"DPoP {algs}"
        else:
            challenge = f"Bearer {params}, DPoP {algs}" if params else f"Bearer, DPoP {algs}"
        self.error = error
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(Problem):
    status = 403
    title = "Not allowed"
    slug = "forbidden"


class NotFound(Problem):
    status = 404
    title = "Not found"
    slug = "not-found"


class MethodNotAllowed(Problem):
    status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"


class Conflict(Problem):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(Problem):
    status = 413
    title = "Request body too large"
    slug = "payload-too-large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class InvalidContent(Problem):
    status = 422
    title = "Invalid content"
    slug = "invalid-content"

    def __init__(self, detail: str, *, errors: list[FieldError]) -> None:
        super().__init__(detail, errors=errors)


class RateLimited(Problem):
    status = 429
    title = "Too many requests"
    slug = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(Problem):
    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_dpop_proof",
        "invalid_authorization_details",
    }
)
"""RFC 6749 §5.2, RFC 9449 §5 and RFC 9396 §5: the token endpoint's error codes."""


class OAuthError(Problem):
    """A refused token request (RFC 6749 §5.2): ``application/json`` with ``error`` and
    ``error_description`` (and the problem members beside them); 401 with a challenge for a client
    that could not be authenticated, else 400."""

    status = 400
    title = "Token request refused"
    slug = "token-request-refused"
    media_type = "application/json"

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        if error not in OAUTH_ERRORS:
            raise ValueError(f"not an OAuth error code: {error}")
        super().__init__(
            description,
            status=status,
            extra={"error": error, "error_description": description},
            headers={"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else None,
        )
        self.error = error
