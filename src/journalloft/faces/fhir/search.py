"""FHIR search parameters: read from a form (or a Parameters resource), applied to the
resources a lookup gives."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Final, Literal

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
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
    form_pairs,
    parse_json,
)

PERSON_PARAMETERS: Final = ("patient:identifier", "subject:identifier")
"""The search parameters that name the people, for every resource type."""
MAX_FORM_BYTES: Final = 64 * 1024
"""The largest search body (a form or a Parameters resource) taken: 413 beyond it."""
MAX_PARAMETERS: Final = 400
"""The most ``name=value`` pairs (Parameters: ``parameter`` entries) one search may have."""
MAX_VALUES: Final = {
    "patient:identifier": 200,
    "code": 100,
    "category": 10,
    "date": 8,
    "status": 10,
    "_sort": 1,
    "_count": 1,
    "_summary": 1,
}
"""The most values each parameter may have in one search, its repetitions and comma-separated
values together (``subject:identifier`` counts with ``patient:identifier``): 200 people as the
native lookup, the rest far more than any real search needs. Beyond it: 400 naming the limit.
A resource type's own parameters count by what they filter (``code``, ``category``, ``status``,
``date``: ``clinical-status`` as ``status``). Counted once per request, whichever providers of the
type are asked."""
MAX_COUNT: Final = 10_000
_COUNT: Final = re.compile(r"[0-9]{1,5}")
_COMMA_SEPARATED: Final = ("patient:identifier", "code", "category", "status")
_PREFIXED: Final = re.compile(r"^(eq|ne|gt|lt|ge|le)?(.+)$")
_FHIR_DATE: Final = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<time>[0-9]{2}:[0-9]{2})(?P<seconds>:[0-9]{2}(?P<fraction>\.[0-9]{1,9})?)?"
    r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?"
)
"""FHIR's date search value: YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime (to the minute, second or
fraction of one) with its offset. ASCII digits only; no ISO week or ordinal dates."""
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
_LATEST: Final = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SearchParameter:
    """A search parameter of one resource type, beyond the person (:data:`PERSON_PARAMETERS`)
    and ``_sort``, ``_count``, ``_summary`` that every type has."""

    applies_to: Literal["code", "category", "status", "date"]
    """What it filters: the provider's ``codes_of``, ``categories_of``, ``status_of`` or
    ``period_of``."""
    documentation: str
    normalise: Callable[[str | None, str], tuple[str | None, str]] | None = None
    """For a code parameter: the (system, code) a search names as the service stores it (as
    writes are normalised: a zero-padded 9151 code, for one)."""
    values: frozenset[tuple[str, str]] | None = None
    """For a code or category parameter: every (system, code) the provider's resources can
    hold for it, when they are known (None: any). A search that names none of them does not
    ask the provider's service at all: where two services serve one resource type, this is
    what tells them apart (Observation's category ``survey`` or ``vital-signs``, its code)."""

    @property
    def type(self) -> str:
        """The FHIR search parameter type (CapabilityStatement)."""
        return "date" if self.applies_to == "date" else "token"


@dataclass
class Tokens:
    """The (system, code) values a search gives one token parameter (``code``, ``category``):
    ``system|code`` or a bare ``code`` (any system)."""

    asked: list[tuple[str | None, str]] = field(default_factory=list)
    _pairs: set[tuple[str, str]] = field(default_factory=set)
    _bare: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.asked)

    def add(self, system: str | None, code: str) -> None:
        self.asked.append((system, code))
        if system is None:
            self._bare.add(code)
        else:
            self._pairs.add((system, code))

    def matches(self, codes: set[tuple[str, str]]) -> bool:
        """Whether a resource with ``codes`` has one the search asks for: O(its codes)."""
        if not self.asked:
            return True
        return any(pair in self._pairs or pair[1] in self._bare for pair in codes)

    def may_match(self, values: frozenset[tuple[str, str]] | None) -> bool:
        """Whether a provider whose resources hold only ``values`` (None: any) may match."""
        return values is None or self.matches(set(values))


@dataclass
class Search:
    patients: list[str] = field(default_factory=list)
    codes: Tokens = field(default_factory=Tokens)
    categories: Tokens = field(default_factory=Tokens)
    dates: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    """(prefix, the value's first instant, the instant after its last), in UTC"""
    statuses: list[str] = field(default_factory=list)
    descending: bool | None = None
    count: int | None = None
    summary_count: bool = False
    named: set[str] = field(default_factory=set)
    """The type's own parameters the search gives (``code``, ``date``…): a provider that does not
    take one of them is not asked."""

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

    def add_code(self, system: str | None, code: str) -> None:
        self.codes.add(system, code)

    def code_matches(self, codes: set[tuple[str, str]]) -> bool:
        """Whether a resource with ``codes`` has one the search asks for: O(its codes)."""
        return self.codes.matches(codes)

    def date_matches(self, start: datetime, end: datetime | None) -> bool:
        """Whether ``[start, end]`` (``end`` None: open) meets every date parameter. ``eq`` (and
        no prefix) is R4's: the search value's range contains the resource's whole range, so an
        open-ended period is never ``eq`` a day; ``ne`` is its negation."""
        start = _utc(start, _EARLIEST)
        last = _LATEST if end is None else _utc(end, _LATEST)
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
    """A FHIR date or dateTime as the half-open range of instants it names, in UTC (a year,
    month or day in Norway; a dateTime to its precision), clamped to what Python can hold:
    ``le9999-12-31`` is every instant. ValueError if it is not FHIR's grammar."""
    found = _FHIR_DATE.fullmatch(value)
    if found is None:
        raise ValueError(value)
    if found["time"] is None:
        year, month = int(found["year"]), int(found["month"] or 1)
        first = date(year, month, int(found["day"] or 1))
        try:
            if found["day"] is not None:
                after = first + timedelta(days=1)
            elif found["month"] is not None:
                after = date(year + month // 12, month % 12 + 1, 1)
            else:
                after = date(year + 1, 1, 1)
            end = datetime.combine(after, time(), OSLO)
        except (OverflowError, ValueError):
            end = _LATEST
        return _utc(datetime.combine(first, time(), OSLO), _EARLIEST), _utc(end, _LATEST)
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if found["fraction"] is not None:
        step = timedelta(microseconds=1)
    elif found["seconds"] is not None:
        step = timedelta(seconds=1)
    else:
        step = timedelta(minutes=1)
    try:
        end = instant + step
    except OverflowError:
        end = _LATEST
    return _utc(instant, _EARLIEST), _utc(end, _LATEST)


def _utc(moment: datetime, clamp: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return clamp


def read_parameters(body: bytes, media_type: str) -> list[tuple[str, str]]:
    """A POST _search body: form-encoded as FHIR says, or a Parameters resource (for client
    libraries that can only post JSON), read by the platform's one JSON reader. At most
    :data:`MAX_FORM_BYTES` (413) and :data:`MAX_PARAMETERS` pairs (400)."""
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge(
            f"a search body is at most {MAX_FORM_BYTES} bytes; this one has {len(body)}"
        )
    if media_type == "application/x-www-form-urlencoded":
        if body.count(b"&") >= MAX_PARAMETERS:
            raise _too_many_parameters()
        # the platform's one form decoder and string rule
        return form_pairs(body, prefix="", whitespace=True)
    if media_type in ("application/fhir+json", "application/json"):
        document = parse_json(body)
        if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
            raise InvalidContent(
                "a JSON search body must be a Parameters resource",
                errors=[FieldError("/resourceType", "must be Parameters")],
            )
        parameters = document.get("parameter", [])
        if not isinstance(parameters, list):
            raise InvalidContent(
                "the search Parameters are not valid",
                errors=[FieldError("/parameter", "must be an array of parameters")],
            )
        if len(parameters) > MAX_PARAMETERS:
            raise _too_many_parameters()
        found = []
        for i, parameter in enumerate(parameters):
            name = parameter.get("name") if isinstance(parameter, Mapping) else None
            values = [
                v
                for k, v in (parameter.items() if isinstance(parameter, Mapping) else [])
                if k.startswith("value")
                and (type(v) is str or (type(v) is int and -(2**63) <= v < 2**64))
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


def read_query(query: str) -> list[tuple[str, str]]:
    """A GET search's query string: the same limits as a POST body (:data:`MAX_FORM_BYTES`,
    :data:`MAX_PARAMETERS`) and the platform's one decoder (no control characters)."""
    if len(query) > MAX_FORM_BYTES:
        raise PayloadTooLarge(
            f"a search's query string is at most {MAX_FORM_BYTES} bytes; this one has {len(query)}"
        )
    if query.count("&") >= MAX_PARAMETERS:
        raise _too_many_parameters()
    return form_pairs(query, prefix="")


def _too_many_parameters() -> BadRequest:
    return BadRequest(
        f"a search has at most {MAX_PARAMETERS} parameters",
        errors=[FieldError("", f"more than {MAX_PARAMETERS} parameters")],
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
            known[name] = partial(
                _code, name=name, normalise=parameter.normalise, kind=parameter.applies_to
            )
    dates = [name for name, p in parameters.items() if p.applies_to == "date"]
    known |= {
        "_sort": partial(_sort, names=dates),
        "_count": _count,
        "_summary": _summary,
        "_format": _format,
    }
    _refuse_too_many_values(pairs, parameters)
    for name, value in pairs:
        reader = known.get(name)
        if name in parameters:
            search.named.add(name)
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


def _refuse_too_many_values(
    pairs: Sequence[tuple[str, str]], parameters: Mapping[str, SearchParameter]
) -> None:
    """400 naming each parameter with more values than :data:`MAX_VALUES` allows, before any is
    read: the work of a search is bounded by these limits, not by what was sent."""
    if len(pairs) > MAX_PARAMETERS:
        raise _too_many_parameters()
    kinds = {name: p.applies_to for name, p in parameters.items()}
    counts: dict[str, int] = {}
    for name, value in pairs:
        counted = "patient:identifier" if name in PERSON_PARAMETERS else name
        kind = kinds.get(counted, counted)
        if kind in MAX_VALUES:
            several = kind in _COMMA_SEPARATED
            counts[counted] = counts.get(counted, 0) + (value.count(",") + 1 if several else 1)
    most = {name: MAX_VALUES[kinds.get(name, name)] for name in counts}
    over = [
        FieldError(
            "/" + name,
            f"has {count} values; a search may give it at most {most[name]}"
            + (" (repetitions and comma-separated values together)" if most[name] > 1 else " time"),
        )
        for name, count in counts.items()
        if count > most[name]
    ]
    if over:
        raise BadRequest(
            "the search has more values than this server takes: "
            + ", ".join(f"{e.pointer[1:]} at most {most[e.pointer[1:]]}" for e in over),
            errors=over,
        )


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
    kind: str = "code",
) -> None:
    tokens = search.categories if kind == "category" else search.codes
    for token in value.split(","):
        system, bar, code = token.partition("|")
        if not token:
            errors.add("/" + name, "must be system|code or code")
            continue
        pair: tuple[str | None, str] = (system, code) if bar else (None, system)
        tokens.add(*(normalise(*pair) if normalise is not None else pair))


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
        errors.add(
            "/" + name,
            "must be [eq|ne|gt|lt|ge|le] and YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with "
            "its offset (YYYY-MM-DDThh:mm[:ss[.s]]Z or ±hh:mm)",
        )
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
    if not _COUNT.fullmatch(value) or int(value) > MAX_COUNT:
        errors.add("/_count", f"must be a whole number 0–{MAX_COUNT} (ASCII digits)")
        return
    search.count = int(value)


def _summary(search: Search, value: str, errors: Errors) -> None:
    if value != "count":
        errors.add("/_summary", "only count is supported")
        return
    search.summary_count = True


_READERS: Final[Mapping[str, Callable[..., None]]] = {
    "code": _code,
    "category": partial(_code, kind="category"),
    "status": _status,
    "date": _date,
}
