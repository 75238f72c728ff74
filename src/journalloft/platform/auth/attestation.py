"""Trust-framework attestations (tillitsrammeverk): who looks, for what purpose.

An attestation (``authorization_details`` of type ``nhn:tillitsrammeverk:parameters``) comes either
as the access token's ``authorization_details`` claim, as HelseID puts it (dated by the token's
``iat``), or as a JWT in the ``Tillitsrammeverk-Attestation`` request header, signed with the DPoP
key the token is bound to (see :func:`attestation_from_header`). Either way at most 60 minutes old.
The practitioner's national id is never kept: only name and HPR number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from journalloft.platform.auth.keys import (
    ASYMMETRIC_ALGORITHMS,
    CLOCK_SKEW_SECONDS,
    public_key,
    unverified_parts,
)
from journalloft.platform.core.errors import (
    Forbidden,
    Problem,
)
from journalloft.platform.core.identifiers import parse_organisasjonsnummer
from journalloft.platform.core.json_reader import parse_json
from journalloft.platform.core.strings import UnstorableText

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
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or any(c < " " for c in value)  # U+0000 and other controls: no store can hold them all
    ):
        raise AttestationRefused(
            f"the attestation's {field} must be text of 1 to {limit} chars, no control characters"
        )
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
    objects carry it), read by the platform's one JSON reader (a lone surrogate, U+0000, a key
    twice or deep nesting are refused as in a body). Entries of other types are not ours and
    are ignored; None if there is no tillitsrammeverk entry. Required:
    ``practitioner.legal_entity`` and ``point_of_care`` (organisasjonsnummer),
    ``care_relationship.healthcare_service`` and ``purpose_of_use`` (one of ETREAT, TREAT, COC,
    BTG). Optional: the practitioner's name (``identifier``, ``pid`` or
    ``subject``: only its ``name`` is read) and HPR number (``hpr_nr``), and ``decision_ref``.
    ``issued_at`` dates it: refused when missing, more than 60 minutes old, or in the future.
    """
    if isinstance(details, str):
        try:
            details = parse_json(details.encode("utf-8", errors="surrogatepass"))
        except Problem as problem:
            where = "; ".join(f"{e.pointer or '/'} {e.message}" for e in problem.errors)
            raise AttestationRefused(
                f"authorization_details is not JSON the platform accepts: {problem.detail}"
                + (f" ({where})" if where else "")
            ) from problem
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
    except UnstorableText as exc:
        raise AttestationRefused(f"the attestation's {exc}") from exc
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
