"""The one door for faces: what a face may use of the platform, and the protocol a face meets.

A face speaks one language over the platform's operations (FHIR R4 under ``/fhir``, NHN's OKT
API under ``/okt``): it parses that language's request, calls the same operations as the native
API (the same access checks, audit, restrictions, limits and JSON reader) and renders the
answer. Faces are plugins, found the way services are: each declares an object meeting
:class:`Face` as an entry point of the group :data:`FACE_ENTRY_POINT_GROUP`, and the
composition root (:mod:`journalloft.app`) includes them. The platform includes no face itself.

The board's own small server uses this door too, for what it shares with the platform's HTTP
side (the JSON reader and the problem+json answers); it is otherwise a client of the API.

A face is generic over services: what a service offers a face (its FHIR resources, its board
part) it finds on the service's spec with :func:`parts_of`, under the face's own name.
"""

from __future__ import annotations

from journalloft.platform.audit.seal import derived_key
from journalloft.platform.auth.attestation import TILLITSRAMMEVERK
from journalloft.platform.auth.keys import ASYMMETRIC_ALGORITHMS
from journalloft.platform.auth.scopes import ScopeVocabulary
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    InvalidContent,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
)
from journalloft.platform.core.instants import OSLO
from journalloft.platform.core.json_reader import parse_json
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.strings import form_pairs
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.http.body import read_json
from journalloft.platform.http.dependencies import CallerDep, JsonBody, RuntimeDep, TenantDep
from journalloft.platform.http.faces import FACE_ENTRY_POINT_GROUP, Face, RoutedFace
from journalloft.platform.http.problems import FaceRenderer, JSONResponse, problem_response
from journalloft.platform.operations import sharing
from journalloft.platform.operations.access import (
    ReaderAccess,
    SourceAccess,
    reader_access,
    require_source_grant,
    source_access,
    source_accesses,
)
from journalloft.platform.plugins.service_protocol import SharingService, parts_of
from journalloft.platform.runtime import Runtime

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "FACE_ENTRY_POINT_GROUP",
    "OSLO",
    "TILLITSRAMMEVERK",
    "BadRequest",
    "Caller",
    "CallerDep",
    "Face",
    "FaceRenderer",
    "FieldError",
    "Forbidden",
    "InvalidContent",
    "JSONResponse",
    "JsonBody",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "ReaderAccess",
    "RoutedFace",
    "Runtime",
    "RuntimeDep",
    "ScopeVocabulary",
    "Settings",
    "SharingService",
    "SourceAccess",
    "Tenant",
    "TenantDep",
    "UnsupportedMediaType",
    "derived_key",
    "form_pairs",
    "parse_json",
    "parts_of",
    "problem_response",
    "read_json",
    "reader_access",
    "require_source_grant",
    "sharing",
    "source_access",
    "source_accesses",
]
