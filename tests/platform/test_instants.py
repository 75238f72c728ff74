"""One syntax and one range for every instant and date a client sends, found through the schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journalloft.platform.core.instants import (
    EARLIEST,
    InvalidInstant,
    instant_errors,
    parse_date,
    parse_instant,
    parse_rfc3339,
)
from journalloft.platform.core.jsonschemas import SCHEMA_BASE, Schemas

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T04:00:00+01:00", NOW),
        ("2026-11-22t03:00:00z", NOW),
        ("2026-11-22T03:00:00-00:00", NOW),
        ("2026-11-22T02:59:59.1234567891Z", NOW - timedelta(microseconds=876544)),
        ("1900-01-01T00:00:00Z", EARLIEST),
        ("1900-01-01T01:00:00+01:00", EARLIEST),
        ("2026-11-22T03:05:00Z", NOW + timedelta(minutes=5)),
    ],
)
def test_rfc3339_instants_in_range_are_read(value: str, expected: datetime) -> None:
    parsed = parse_instant(value, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("9999-12-31T23:59:59-23:59", "future"),
        ("0001-01-01T00:00:00+14:00", "before 1900"),
        ("0001-01-01T00:00:00Z", "before 1900"),
        ("1900-01-01T00:59:59+01:00", "before 1900"),
        ("2026-11-22T03:05:00.000001Z", "future"),
        ("2099-01-01T00:00:00Z", "future"),
        ("2016-12-31T23:59:60Z", "leap second"),
        ("2026-02-29T00:00:00Z", "not a valid date-time"),
        ("2026-11-22T24:00:00Z", "not a valid date-time"),
        ("2026-11-22T03:00:00+24:00", "offset"),
        ("2026-11-22T03:00:00", "RFC 3339"),
        ("2026-11-22 03:00:00Z", "RFC 3339"),
        ("2026-11-22T03:00Z", "RFC 3339"),
        ("20261122T030000Z", "RFC 3339"),
        ("２０２６-11-22T03:00:00Z", "RFC 3339"),
        ("2026-11-22T03:00:00Z\n", "RFC 3339"),
    ],
)
def test_instants_outside_the_rules_are_refused_in_words(value: str, words: str) -> None:
    with pytest.raises(InvalidInstant) as refused:
        parse_instant(value, now=NOW)
    assert words in str(refused.value)


def _rfc3339(local: datetime, offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{local.isoformat(timespec='microseconds')}{sign}{hours:02}:{minutes:02}"


OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes()
    | st.datetimes(min_value=datetime(1899, 12, 30), max_value=datetime(2026, 11, 23)),
    offset_minutes=OFFSETS,
)
def test_any_instant_with_any_offset_is_read_if_in_range_and_refused_if_not(
    moment: datetime, offset_minutes: int
) -> None:
    """Whether it is accepted is decided here, from the rule (1900-01-01T00:00Z to the clock plus
    five minutes), not taken from the parser: one that refused everything fails."""
    text = _rfc3339(moment, offset_minutes)
    try:
        utc: datetime | None = moment - timedelta(minutes=offset_minutes)
    except OverflowError:
        utc = None  # before year 1 or after 9999 in UTC: out of range either way
    latest = (NOW + timedelta(minutes=5)).replace(tzinfo=None)
    if utc is not None and EARLIEST.replace(tzinfo=None) <= utc <= latest:
        parsed = parse_instant(text, now=NOW)
        assert parsed == moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
        assert parsed.utcoffset() == timedelta(minutes=offset_minutes)
    else:
        with pytest.raises(InvalidInstant):
            parse_instant(text, now=NOW)


@settings(max_examples=100, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2026, 11, 21)),
    offset_minutes=OFFSETS,
)
def test_every_instant_in_range_is_accepted(moment: datetime, offset_minutes: int) -> None:
    parsed = parse_instant(_rfc3339(moment, offset_minutes), now=NOW)
    assert parsed == moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))


def test_the_syntax_alone_takes_any_year() -> None:
    assert parse_rfc3339("0001-01-01T00:00:00+14:00").year == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1900-01-01", date(1900, 1, 1)), ("9999-12-31", date(9999, 12, 31))],
)
def test_dates_from_1900_to_9999_are_read(value: str, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value", ["1899-12-31", "0001-01-01", "2026-02-29", "20260101", "2026-1-1"]
)
def test_other_dates_are_refused(value: str) -> None:
    with pytest.raises(InvalidInstant):
        parse_date(value)


def schemas_with(document: dict[str, Any]) -> tuple[Schemas, str]:
    schema_id = SCHEMA_BASE + "test/v1/shapes.schema.json"
    common: dict[str, Any] = {
        "$id": SCHEMA_BASE + "test/v1/common.schema.json",
        "$defs": {"instant": {"type": "string", "format": "date-time"}},
    }
    return Schemas({common["$id"]: common, schema_id: {"$id": schema_id, **document}}), schema_id


def test_every_formatted_value_is_found_through_refs_arrays_and_patterns() -> None:
    instant = {"$ref": "common.schema.json#/$defs/instant"}
    schemas, schema_id = schemas_with(
        {
            "allOf": [{"properties": {"updated": instant}}],
            "properties": {
                "series": {"type": "array", "items": {"properties": {"at": instant}}},
                "pair": {"prefixItems": [{"format": "date"}, instant]},
                "by_day": {"patternProperties": {"^d-": {"format": "date"}}},
                "other": {"additionalProperties": instant},
                "tree": {"$ref": "#"},
            },
        }
    )
    instance = {
        "updated": "u",
        "series": [{"at": "a0"}, {"at": "a1"}, {"x": "not formatted"}],
        "pair": ["p0", "p1"],
        "by_day": {"d-1": "d", "e-1": "not formatted"},
        "other": {"k": "o"},
        "tree": {"updated": "recursion is not followed"},
        "unknown": "not formatted",
    }
    found = sorted(schemas.formatted(instance, schema_id))
    assert found == [
        ("/by_day/d-1", "date", "d"),
        ("/other/k", "date-time", "o"),
        ("/pair/0", "date", "p0"),
        ("/pair/0", "date-time", "p0"),
        ("/pair/1", "date", "p1"),
        ("/pair/1", "date-time", "p1"),
        ("/series/0/at", "date-time", "a0"),
        ("/series/1/at", "date-time", "a1"),
        ("/updated", "date-time", "u"),
    ]
    errors = instant_errors(schemas.formatted(instance, schema_id), now=NOW, prefix="/records/0")
    assert {e.pointer for e in errors} == {f"/records/0{p}" for p, _, _ in found}


def test_a_schema_without_formats_costs_nothing() -> None:
    schemas, schema_id = schemas_with({"properties": {"a": {"type": "string"}}})
    assert schemas.format_plan(schema_id) is None
    assert list(schemas.formatted({"a": "x"}, schema_id)) == []
