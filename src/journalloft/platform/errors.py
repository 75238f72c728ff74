"""The platform's errors, each rendered as ``application/problem+json`` (RFC 9457).

Problem
 ├── BadRequest              400  malformed JSON or request
 ├── Unauthorized            401  missing or invalid token (with WWW-Authenticate)
 ├── Forbidden               403  valid token without the right
 ├── NotFound                404  unknown tenant, service or record
 ├── PayloadTooLarge         413
 ├── UnsupportedMediaType    415
 ├── InvalidContent          422  with ``errors``: JSON Pointer and message per violation
 ├── RateLimited             429  with Retry-After
 └── ServiceUnavailable      503  a dependency is down, with Retry-After
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


class Unauthorized(Problem):
    status = 401
    title = "Not authenticated"
    slug = "not-authenticated"

    def __init__(
        self, detail: str, *, error: str = "invalid_token", scheme: str = "Bearer"
    ) -> None:
        challenge = f'{scheme} error="{error}", error_description="{detail}"'
        if scheme == "Bearer":
            challenge += ', DPoP algs="ES256 RS256 PS256 EdDSA"'
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
