"""A measure's schedule and its next occurrence in Norway (Europe/Oslo, daylight saving time).

A schedule is what the journal system knows of when a measure is done:

- ``times`` (``"HH:MM"``, local Norwegian time) alone: every day at those times;
- with ``weekdays`` (``mon`` … ``sun``): on those days at those times;
- with ``every_days`` (2 → every other day): every n-th day counted from the measure's start;
- ``text`` only: free text ("etter behov", "ved behov"): no next occurrence is computed.

Times are wall-clock times in Norway, stored as sent (no zone). An occurrence is the time of
day on a date, placed in Europe/Oslo: on the day clocks go forward, a time that does not exist
(02:30) is read with the offset before the change (so it falls at 03:30 summer time); on the day
they go back, a time that happens twice is its first (summer-time) instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from journalloft.plugin import OSLO, FieldError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_EVERY_DAYS: Final = 365


def parse_time(value: str) -> time | None:
    """``HH:MM`` (00:00–23:59, two digits each), or None."""
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        return None
    if not value.isascii():
        return None
    hour, minute = int(value[:2]), int(value[3:])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def schedule_errors(schedule: Mapping[str, Any]) -> list[FieldError]:
    """What is wrong with a schema-valid schedule (pointers relative to the record)."""
    errors: list[FieldError] = []
    times = schedule.get("times") or []
    for i, value in enumerate(times):
        if parse_time(value) is None:
            errors.append(FieldError(f"/schedule/times/{i}", "must be a time of day, HH:MM"))
    if len(set(times)) != len(times):
        errors.append(FieldError("/schedule/times", "must not name a time twice"))
    weekdays = schedule.get("weekdays")
    if weekdays is not None and len(set(weekdays)) != len(weekdays):
        errors.append(FieldError("/schedule/weekdays", "must not name a day twice"))
    if weekdays is not None and schedule.get("every_days") is not None:
        errors.append(
            FieldError("/schedule/every_days", "a schedule has weekdays or an interval, not both")
        )
    for part in ("weekdays", "every_days"):
        if schedule.get(part) is not None and not times:
            errors.append(
                FieldError(
                    "/schedule/times",
                    f"is required with {part}: at what time (a schedule without one is text)",
                )
            )
    if not times and not schedule.get("text"):
        errors.append(FieldError("/schedule", "must have times, or a text"))
    return errors


def _on_day(
    day: date, *, weekdays: Sequence[str] | None, every_days: int | None, start: date
) -> bool:
    if weekdays is not None:
        return WEEKDAYS[day.weekday()] in weekdays
    if every_days is not None:
        return (day - start).days % every_days == 0
    return True


def occurrence(day: date, at: time) -> datetime:
    """``at`` on ``day`` in Norway, as an aware instant (see the module for DST)."""
    local = datetime.combine(day, at, OSLO)
    # A time that does not exist (the spring gap) normalises to the real instant.
    return local.astimezone(UTC).astimezone(OSLO)


def next_occurrence(
    schedule: Mapping[str, Any] | None, *, start: date, end: date | None, now: datetime
) -> datetime | None:
    """The first occurrence at or after ``now`` (aware) in Europe/Oslo, within ``start`` …
    ``end`` (days, inclusive); None for a schedule of text only, or none left.

    Bounded: at most ``MAX_EVERY_DAYS`` + 1 days are tried."""
    if not schedule or not schedule.get("times"):
        return None
    times = sorted(t for t in map(parse_time, schedule["times"]) if t is not None)
    weekdays = schedule.get("weekdays")
    every_days = schedule.get("every_days")
    instant = now.astimezone(UTC)
    today = now.astimezone(OSLO).date()
    day = max(today, start)
    for _ in range(MAX_EVERY_DAYS + 2):
        if end is not None and day > end:
            return None
        if _on_day(day, weekdays=weekdays, every_days=every_days, start=start):
            for at in times:
                found = occurrence(day, at)
                # in UTC: two times of one zone compare by their wall clocks, not their instants
                if found.astimezone(UTC) >= instant:
                    return found
        day += timedelta(days=1)
    return None
