"""FHIR search parameters: read from a form (or a Parameters resource), applied to the
resources a lookup gives."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Final, Literal

import orjson

from journalloft.faces.fhir.common import (
    FNR_SYSTEM,
    PERSON_SYSTEMS,
    SYSTEM_MISMATCH,
    Errors,
    person_system,
)
from journalloft.platform.face import (
    OSLO,
    BadRequest,
    FieldError,
    InvalidContent,
    Problem,
    UnsupportedMediaType,
    form_pairs,
)

PERSON_PARAMETERS: Final = ("patient:identifier", "subject:identifier")
"""The search parameters that name the people, for every resource type."""
_PREFIXED: Final = re.compile(r"^(eq|ne|gt|lt|ge|le)?(.+)$")


@dataclass(frozen=True)
class SearchParameter:
    """A search parameter of one resource type, beyond the person (:data:`PERSON_PARAMETERS`)
    and ``_sort``, ``_count``, ``_summary`` that every type has."""

    applies_to: Literal["code", "status", "date"]
    """What it filters: the provider's ``codes_of``, ``status_of`` or ``period_of``."""
    documentation: str
    normalise: Callable[[str | None, str], tuple[str | None, str]] | None = None
    """For a code parameter: the (system, code) a search names as the service stores it (as
    writes are normalised: a zero-padded 9151 code, for one)."""

    @property
    def type(self) -> str:
        """The FHIR search parameter type (CapabilityStatement)."""
        return "date" if self.applies_to == "date" else "token"


@dataclass
class Search:
    patients: list[str] = field(default_factory=list)
    codes: list[tuple[str | None, str]] = field(default_factory=list)
    dates: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    """(prefix, the value's first instant, the instant after its last)"""
    statuses: list[str] = field(default_factory=list)
    descending: bool | None = None
    count: int | None = None
    summary_count: bool = False

    def earliest(self) -> datetime | None:
        """The earliest instant the date parameters allow, if they bound it."""
        lows = [
            low if prefix in ("eq", "ge") else high
            for prefix, low, high in self.dates
            if prefix in ("eq", "ge", "gt")
        ]
        return min(lows) if lows else None

    def hours_back(self, now: datetime, default: int, most: int) -> int:
        earliest = self.earliest()
        if earliest is None:
            return default
        return max(1, min(most, math.ceil((now - earliest).total_seconds() / 3600) + 1))

    def code_matches(self, codes: set[tuple[str, str]]) -> bool:
        if not self.codes:
            return True
        return any(
            (system, code) in codes if system is not None else code in {c for _, c in codes}
            for system, code in self.codes
        )

    def date_matches(self, start: datetime, end: datetime | None) -> bool:
        """Whether ``[start, end]`` (``end`` None: open) meets every date parameter. ``eq`` (and
        no prefix) is R4's: the search value's range contains the resource's whole range, so an
        open-ended period is never ``eq`` a day; ``ne`` is its negation."""
        last = end or datetime.max.replace(tzinfo=OSLO)
        for prefix, low, high in self.dates:
            ok = {
                "eq": start >= low and last < high,
                "ne": not (start >= low and last < high),
                "gt": last >= high,
                "ge": last >= low,
                "lt": start < low,
                "le": start < high,
            }[prefix]
            if not ok:
                return False
        return True


def _bounds(value: str) -> tuple[datetime, datetime]:
    """A FHIR date or dateTime as the half-open range of instants it names (a day in Norway)."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        start = datetime.combine(day, time(), OSLO)
        return start, datetime.combine(day + timedelta(days=1), time(), OSLO)
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError("a dateTime with a time needs its offset")
    return instant, instant + timedelta(microseconds=1)


def read_parameters(body: bytes, media_type: str) -> list[tuple[str, str]]:
    """A POST _search body: form-encoded as FHIR says, or a Parameters resource (for client
    libraries that can only post JSON)."""
    if media_type == "application/x-www-form-urlencoded":
        return form_pairs(
            body, prefix="", whitespace=True
        )  # the platform's one form decoder and string rule
    if media_type in ("application/fhir+json", "application/json"):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
            raise InvalidContent(
                "a JSON search body must be a Parameters resource",
                errors=[FieldError("/resourceType", "must be Parameters")],
            )
        found = []
        for i, parameter in enumerate(document.get("parameter") or []):
            name = parameter.get("name") if isinstance(parameter, Mapping) else None
            values = [
                v
                for k, v in (parameter.items() if isinstance(parameter, Mapping) else [])
                if k.startswith("value") and isinstance(v, str | int)
            ]
            if not isinstance(name, str) or len(values) != 1:
                raise InvalidContent(
                    "the search Parameters are not valid",
                    errors=[FieldError(f"/parameter/{i}", "needs a name and one value")],
                )
            found.append((name, str(values[0])))
        return found
    raise UnsupportedMediaType(
        "send the search as application/x-www-form-urlencoded (or a Parameters resource)"
    )


Reader = Callable[[Search, str, Errors], None]


def parse_search(
    pairs: Sequence[tuple[str, str]], parameters: Mapping[str, SearchParameter]
) -> Search:
    """The search a form asks of one resource type with these ``parameters``; 400 naming each
    parameter that is not understood."""
    search = Search()
    errors = Errors()
    known: dict[str, Reader] = dict.fromkeys(PERSON_PARAMETERS, _patient)
    for name, parameter in parameters.items():
        known[name] = partial(_READERS[parameter.applies_to], name=name)
        if parameter.normalise is not None:
            known[name] = partial(_code, name=name, normalise=parameter.normalise)
    dates = [name for name, p in parameters.items() if p.applies_to == "date"]
    known |= {
        "_sort": partial(_sort, names=dates),
        "_count": _count,
        "_summary": _summary,
        "_format": _format,
    }
    for name, value in pairs:
        reader = known.get(name)
        if reader is None:
            errors.add(
                "/" + name,
                f"is not a supported search parameter (supported: {', '.join(sorted(known))})",
            )
            continue
        reader(search, value, errors)
    if errors.found:
        raise BadRequest("the search is not valid", errors=errors.found)
    if not search.patients:
        raise BadRequest(
            "a search names the people: patient:identifier=" + FNR_SYSTEM + "|<id> (or DNR)",
            errors=[FieldError("/patient:identifier", "is required")],
        )
    return search


def _patient(search: Search, value: str, errors: Errors) -> None:
    for token in value.split(","):
        system, bar, person = token.partition("|")
        if not bar or system not in PERSON_SYSTEMS or not person:
            errors.add(
                "/patient:identifier",
                f"must be {FNR_SYSTEM}|<11 digits> (or the DNR or FH-nummer system), "
                "comma-separated",
            )
            continue
        if person_system(person) != system:
            errors.add("/patient:identifier", "the system " + SYSTEM_MISMATCH)
            continue
        search.patients.append(person)


def _code(
    search: Search,
    value: str,
    errors: Errors,
    *,
    name: str,
    normalise: Callable[[str | None, str], tuple[str | None, str]] | None = None,
) -> None:
    for token in value.split(","):
        system, bar, code = token.partition("|")
        if not token:
            errors.add("/" + name, "must be system|code or code")
        pair: tuple[str | None, str] = (system, code) if bar else (None, system)
        search.codes.append(normalise(*pair) if normalise is not None else pair)


JSON_FORMATS: Final = frozenset({"json", "application/json", "application/fhir+json"})
"""The ``_format`` values (and media types) the face answers: JSON only (R4 http.html)."""


class NotAcceptable(Problem):
    """406: the client asked for a format the face does not answer in (XML, Turtle)."""

    status = 406
    title = "Not acceptable"
    slug = "not-acceptable"


def accepts_json(format_: str | None, accept: str | None) -> None:
    """Raise :class:`NotAcceptable` unless ``_format`` and the ``Accept`` header let the face
    answer FHIR JSON (R4 http.html: a server that cannot answer as asked returns 406)."""
    if format_ is not None and format_.split(";")[0].strip().lower() not in JSON_FORMATS:
        raise NotAcceptable("this server answers FHIR JSON only: _format=json")
    if not accept:
        return
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if types & (JSON_FORMATS | {"*/*", "application/*"}):
        return
    raise NotAcceptable("this server answers application/fhir+json only")


def _format(search: Search, value: str, errors: Errors) -> None:
    accepts_json(value, None)


def _date(search: Search, value: str, errors: Errors, *, name: str) -> None:
    prefix, rest = "eq", value
    matched = _PREFIXED.fullmatch(value)
    if matched and matched.group(1):
        prefix, rest = matched.group(1), matched.group(2)
    try:
        low, high = _bounds(rest)
    except ValueError:
        errors.add("/" + name, "must be [eq|ne|gt|lt|ge|le]YYYY-MM-DD or a dateTime with offset")
        return
    search.dates.append((prefix, low, high))


def _status(search: Search, value: str, errors: Errors, *, name: str) -> None:
    search.statuses += [s for s in value.split(",") if s]


def _sort(search: Search, value: str, errors: Errors, *, names: Sequence[str]) -> None:
    if value.removeprefix("-") not in names:
        allowed = " or ".join(f"{n} or -{n}" for n in names)
        errors.add("/_sort", f"must be {allowed}" if names else "is not supported here")
        return
    search.descending = value.startswith("-")


def _count(search: Search, value: str, errors: Errors) -> None:
    if not value.isdigit() or int(value) > 10_000:
        errors.add("/_count", "must be a whole number 0–10000")
        return
    search.count = int(value)


def _summary(search: Search, value: str, errors: Errors) -> None:
    if value != "count":
        errors.add("/_summary", "only count is supported")
        return
    search.summary_count = True


_READERS: Final[Mapping[str, Callable[..., None]]] = {
    "code": _code,
    "status": _status,
    "date": _date,
}
