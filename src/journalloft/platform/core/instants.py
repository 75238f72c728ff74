"""Instants and dates as the platform takes them from clients: one syntax, one range.

- An instant (``format: date-time`` in a record schema, and the audit feed's ``since``) is RFC
  3339 with an offset (``T`` and ``Z`` in either case, any number of fraction digits, kept to
  the microsecond) between :data:`EARLIEST` and the platform's clock plus :data:`CLOCK_SKEW`.
  A record's instants say when something happened or was changed: one in the future would, as
  ``updated``, make every later correction of the record look stale until then. A leap second
  (``:60``) is refused: no store keeps one.
- A date (``format: date``) is ``YYYY-MM-DD`` from :data:`EARLIEST_DATE` to 9999-12-31: a
  service may end far in the future.

Every record's fields of these formats are found through its JSON Schema
(:meth:`journalloft.platform.core.jsonschemas.Schemas.formats`), so a new service gets the rules by
declaring the format, without code of its own.

Exceptions::

    ValueError
    └── InvalidInstant
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from journalloft.platform.core.errors import FieldError

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
EARLIEST_DATE: Final = date(1900, 1, 1)
CLOCK_SKEW: Final = timedelta(minutes=5)
DATE_TIME: Final = "date-time"
DATE: Final = "date"

_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidInstant(ValueError):
    """Why a date-time or date is refused, in words for the client (without the value)."""


@functools.lru_cache(maxsize=4096)
def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time with its offset, whatever its year; :class:`InvalidInstant` if it
    is not one, or is a leap second.

    Remembered (the last 4096 valid ones; a refusal is not remembered): an ingested record's
    instants are parsed when the batch is checked, again by its service and again for its
    row, and ``datetime`` values are immutable."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise InvalidInstant(
            "is not an RFC 3339 date-time with an offset, e.g. 2026-11-22T03:00:00+01:00"
        )
    if match[1] == "60":
        raise InvalidInstant(
            "is a leap second (:60), which is not accepted: send the 59th second instead"
        )
    if match[2] is not None and (int(match[2]) > 23 or int(match[3]) > 59):
        raise InvalidInstant("has an offset beyond ±23:59")
    try:  # what is left of RFC 3339 is a subset of what fromisoformat reads (T and Z upper case)
        return datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise InvalidInstant(f"is not a valid date-time: {exc}") from None


def check_instant(instant: datetime, *, now: datetime) -> datetime:
    """``instant`` (with its offset) if it is within the accepted range, else
    :class:`InvalidInstant`. Compared as they are: converting an instant out of range to UTC
    could overflow."""
    if instant.tzinfo is None:
        raise InvalidInstant("needs its offset (Z or +01:00)")
    if instant < EARLIEST:
        raise InvalidInstant("is before 1900-01-01T00:00:00Z, the earliest instant accepted")
    if instant > now + CLOCK_SKEW:
        raise InvalidInstant(
            f"is in the future: {_duration(instant - now)} after the platform's clock "
            f"({now.astimezone(UTC).isoformat(timespec='seconds')}); "
            "5 minutes of clock skew are allowed"
        )
    return instant


def parse_instant(value: str, *, now: datetime) -> datetime:
    """An RFC 3339 date-time within the accepted range (see the module docstring)."""
    return check_instant(parse_rfc3339(value), now=now)


def optional_date(value: object) -> date | None:
    """A record's optional ``YYYY-MM-DD`` field as a date; None when absent, null or not a
    date (the platform has already refused an invalid one before a service sees the record)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_date(value)
    except InvalidInstant:
        return None


def parse_date(value: str) -> date:
    """A ``YYYY-MM-DD`` date from 1900-01-01 on; :class:`InvalidInstant` otherwise."""
    if _DATE.fullmatch(value) is None:
        raise InvalidInstant("is not a date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInstant(f"is not a valid date: {exc}") from None
    if day < EARLIEST_DATE:
        raise InvalidInstant("is before 1900-01-01, the earliest date accepted")
    return day


def instant_errors(
    values: Iterable[tuple[str, str, Any]], *, now: datetime, prefix: str = ""
) -> list[FieldError]:
    """The errors of ``(pointer, format, value)`` triples (from
    :meth:`~journalloft.platform.core.jsonschemas.Schemas.formatted`): every string of format
    ``date-time`` or ``date`` outside the rules. Values of other types are the schema's
    business."""
    errors = []
    for pointer, kind, value in values:
        if not isinstance(value, str):
            continue
        try:
            if kind == DATE_TIME:
                parse_instant(value, now=now)
            elif kind == DATE:
                parse_date(value)
        except InvalidInstant as exc:
            errors.append(FieldError(prefix + pointer, str(exc)))
    return errors


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


OSLO: Final = ZoneInfo("Europe/Oslo")
"""Norway's time zone: what "today" means for a service, a date, a window."""


def today_in_oslo(now: datetime) -> date:
    """The calendar date in Norway at the instant ``now`` (timezone-aware; ValueError if not,
    since a naive datetime's instant is unknown)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(OSLO).date()
