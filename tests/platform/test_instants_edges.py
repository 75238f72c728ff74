"""The instants rules at their edges, and the words of every refusal (a client reads them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import pytest

from journalloft.platform.core.instants import (
    DATE,
    DATE_TIME,
    InvalidInstant,
    check_instant,
    instant_errors,
    optional_date,
    parse_date,
    parse_instant,
    today_in_oslo,
)

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "2026-11-22 03:00:00Z",
            "is not an RFC 3339 date-time with an offset, e.g. 2026-11-22T03:00:00+01:00",
        ),
        (
            "2026-11-22T02:59:60Z",
            "is a leap second (:60), which is not accepted: send the 59th second instead",
        ),
        ("2026-11-22T03:00:00+24:00", "has an offset beyond ±23:59"),
        ("2026-11-22T03:00:00+23:60", "has an offset beyond ±23:59"),
        ("2026-11-22T03:00:00-24:00", "has an offset beyond ±23:59"),
        ("1899-12-31T23:59:59Z", "is before 1900-01-01T00:00:00Z, the earliest instant accepted"),
    ],
)
def test_each_refusal_of_an_instant_says_why(value: str, reason: str) -> None:
    with pytest.raises(InvalidInstant) as refused:
        parse_instant(value, now=NOW)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "value", ["2026-11-22T03:00:00+23:59", "2026-11-22T03:00:00-23:59", "2026-11-22T03:00:00+23:00"]
)
def test_offsets_up_to_23_59_are_read(value: str) -> None:
    parsed = parse_instant(value, now=NOW + timedelta(days=1))
    assert parsed.utcoffset() == timedelta(hours=int(value[-5:-3]), minutes=int(value[-2:])) * (
        -1 if value[-6] == "-" else 1
    )


@pytest.mark.parametrize(
    ("ahead", "words"),
    [
        (timedelta(minutes=5, seconds=1), "5 min 1 s"),
        (timedelta(minutes=59, seconds=59), "59 min 59 s"),
        (timedelta(hours=1), "1 h 0 min"),
        (timedelta(hours=1, minutes=1), "1 h 1 min"),
        (timedelta(hours=1, minutes=1, seconds=59), "1 h 1 min"),
        (timedelta(hours=47, minutes=59, seconds=59), "47 h 59 min"),
        (timedelta(hours=48), "2 days"),
        (timedelta(days=3, hours=23), "3 days"),
    ],
)
def test_an_instant_in_the_future_says_how_far_and_the_clock(ahead: timedelta, words: str) -> None:
    now_in_oslo = NOW.astimezone(timezone(timedelta(hours=1)))
    with pytest.raises(InvalidInstant) as refused:
        parse_instant((NOW + ahead).isoformat(), now=now_in_oslo)
    assert str(refused.value) == (
        f"is in the future: {words} after the platform's clock (2026-11-22T03:00:00+00:00); "
        "5 minutes of clock skew are allowed"
    )


def test_an_instant_without_its_offset_is_refused_in_words() -> None:
    with pytest.raises(InvalidInstant) as refused:
        check_instant(datetime(2026, 11, 22, 3, 0), now=NOW)
    assert str(refused.value) == "needs its offset (Z or +01:00)"


def test_five_minutes_ahead_is_accepted_and_a_second_more_is_not() -> None:
    assert parse_instant("2026-11-22T03:05:00Z", now=NOW) == NOW + timedelta(minutes=5)
    with pytest.raises(InvalidInstant):
        parse_instant("2026-11-22T03:05:01Z", now=NOW)
    assert parse_instant("1900-01-01T00:00:00Z", now=NOW) == datetime(1900, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-1-22", "is not a date (YYYY-MM-DD)"),
        ("1899-12-31", "is before 1900-01-01, the earliest date accepted"),
    ],
)
def test_each_refusal_of_a_date_says_why(value: str, reason: str) -> None:
    with pytest.raises(InvalidInstant) as refused:
        parse_date(value)
    assert str(refused.value) == reason


def test_a_date_that_is_not_in_the_calendar_says_so() -> None:
    with pytest.raises(InvalidInstant) as refused:
        parse_date("2026-02-29")
    assert str(refused.value).startswith("is not a valid date: ")
    assert parse_date("1900-01-01") == date(1900, 1, 1)


def test_optional_date() -> None:
    assert optional_date("2028-02-29") == date(2028, 2, 29)
    assert optional_date("2026-02-29") is None
    assert optional_date(None) is None
    assert optional_date(20260101) is None


def test_instant_errors_names_each_bad_value_at_its_pointer() -> None:
    values = [
        ("/a", DATE_TIME, 5),  # not a string: the schema's business
        ("/b", DATE_TIME, "2026-11-22T03:06:00Z"),
        ("/c", DATE, "1899-12-31"),
        ("/d", DATE_TIME, "2026-11-22T03:00:00Z"),
        ("/e", "uri", "2026-11-22"),
    ]
    errors = instant_errors(values, now=NOW)
    assert [(e.pointer, e.message[:16]) for e in errors] == [
        ("/b", "is in the future"),
        ("/c", "is before 1900-0"),
    ]
    assert instant_errors(values, now=NOW + timedelta(minutes=1)) == errors[1:]
    prefixed = instant_errors(values, now=NOW, prefix="/records/0")
    assert [e.pointer for e in prefixed] == ["/records/0/b", "/records/0/c"]


class NoOffset(tzinfo):
    """A time zone that does not know its offset: a datetime in it is not an instant."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_today_in_oslo_needs_an_instant() -> None:
    assert today_in_oslo(datetime(2026, 11, 21, 23, 30, tzinfo=UTC)) == date(2026, 11, 22)
    assert today_in_oslo(datetime(2026, 6, 21, 21, 59, tzinfo=UTC)) == date(2026, 6, 21)
    assert today_in_oslo(datetime(2026, 6, 21, 22, 0, tzinfo=UTC)) == date(2026, 6, 22)
    for naive in (datetime(2026, 11, 22), datetime(2026, 11, 22, tzinfo=NoOffset())):
        with pytest.raises(ValueError, match=r"^now must be a timezone-aware datetime$"):
            today_in_oslo(naive)
