from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journalloft.plugin import OSLO, today_in_oslo
from journalloft.services.kommunale_tjenester.status import (
    STATUS_ORDER,
    Status,
    service_status,
    sort_key,
)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _status_at(
    now: datetime, *, start: date, end: date | None = None, temporary_cessation: bool = False
) -> Status:
    return service_status(
        start=start, end=end, temporary_cessation=temporary_cessation, today=today_in_oslo(now)
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Spring, 2026-03-29: clocks go 02:00 CET -> 03:00 CEST (01:00Z).
        (datetime(2026, 3, 29, 0, 30, tzinfo=OSLO), date(2026, 3, 29)),
        (_utc("2026-03-28T23:30:00"), date(2026, 3, 29)),
        (_utc("2026-03-28T22:59:59"), date(2026, 3, 28)),
        (_utc("2026-03-29T01:30:00"), date(2026, 3, 29)),
        (_utc("2026-03-29T21:59:59"), date(2026, 3, 29)),
        (_utc("2026-03-29T22:00:00"), date(2026, 3, 30)),
        # Autumn, 2026-10-25: 02:30 happens twice, in CEST (00:30Z) and then in CET (01:30Z).
        (_utc("2026-10-25T00:30:00"), date(2026, 10, 25)),
        (_utc("2026-10-25T01:30:00"), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=OSLO, fold=0), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=OSLO, fold=1), date(2026, 10, 25)),
        (_utc("2026-10-24T21:59:59"), date(2026, 10, 24)),
        (_utc("2026-10-24T22:00:00"), date(2026, 10, 25)),
        (_utc("2026-10-25T22:59:59"), date(2026, 10, 25)),
        (_utc("2026-10-25T23:00:00"), date(2026, 10, 26)),
        # Summer midnight is 22:00Z, winter midnight 23:00Z.
        (_utc("2026-06-30T21:59:59"), date(2026, 6, 30)),
        (_utc("2026-06-30T22:00:00"), date(2026, 7, 1)),
        (_utc("2026-01-15T22:59:59"), date(2026, 1, 15)),
        (_utc("2026-01-15T23:00:00"), date(2026, 1, 16)),
        # Any aware datetime is converted, whatever its own offset.
        (datetime(2026, 6, 30, 19, 0, tzinfo=timezone(timedelta(hours=-4))), date(2026, 7, 1)),
    ],
)
def test_today_in_oslo_follows_norwegian_midnight(now: datetime, expected: date) -> None:
    assert today_in_oslo(now) == expected


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        today_in_oslo(datetime(2026, 6, 30, 23, 0))


def test_tzinfo_without_offset_is_rejected() -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

        def dst(self, dt: datetime | None) -> timedelta | None:
            return None

        def tzname(self, dt: datetime | None) -> str | None:
            return None

    with pytest.raises(ValueError, match="timezone-aware"):
        today_in_oslo(datetime(2026, 6, 30, 23, 0, tzinfo=NoOffset()))


def test_service_ending_june_30_is_active_until_oslo_midnight() -> None:
    end = date(2026, 6, 30)
    start = date(2026, 1, 1)
    assert _status_at(_utc("2026-06-30T21:59:59"), start=start, end=end) == "active"
    assert _status_at(_utc("2026-06-30T22:00:00"), start=start, end=end) == "ended"


def test_paused_service_ending_june_30_is_paused_until_oslo_midnight() -> None:
    end = date(2026, 6, 30)
    start = date(2026, 1, 1)
    before = _status_at(_utc("2026-06-30T21:59:59"), start=start, end=end, temporary_cessation=True)
    after = _status_at(_utc("2026-06-30T22:00:00"), start=start, end=end, temporary_cessation=True)
    assert (before, after) == ("paused", "ended")


def test_service_starting_july_1_becomes_active_at_oslo_midnight() -> None:
    start = date(2026, 7, 1)
    assert _status_at(_utc("2026-06-30T21:59:59"), start=start) == "planned"
    assert _status_at(_utc("2026-06-30T22:00:00"), start=start) == "active"


def test_winter_boundary_is_one_hour_later_in_utc() -> None:
    start = date(2026, 1, 16)
    assert _status_at(_utc("2026-01-15T22:30:00"), start=start) == "planned"
    assert _status_at(_utc("2026-01-15T23:00:00"), start=start) == "active"


@pytest.mark.parametrize(("cessation", "expected"), [(False, "active"), (True, "paused")])
def test_end_date_is_the_last_day_of_service(cessation: bool, expected: Status) -> None:
    today = date(2026, 6, 30)
    status = service_status(
        start=date(2026, 1, 1), end=today, temporary_cessation=cessation, today=today
    )
    assert status == expected


@pytest.mark.parametrize(("cessation", "expected"), [(False, "active"), (True, "paused")])
def test_start_date_is_the_first_day_of_service(cessation: bool, expected: Status) -> None:
    today = date(2026, 7, 1)
    status = service_status(start=today, end=None, temporary_cessation=cessation, today=today)
    assert status == expected


def test_one_day_service_is_current_on_that_day_only() -> None:
    day = date(2026, 7, 1)

    def on(today: date) -> Status:
        return service_status(start=day, end=day, temporary_cessation=False, today=today)

    assert [on(day - timedelta(days=1)), on(day), on(day + timedelta(days=1))] == [
        "planned",
        "active",
        "ended",
    ]


def test_planned_service_with_temporary_cessation_is_planned() -> None:
    status = service_status(
        start=date(2026, 7, 1), end=None, temporary_cessation=True, today=date(2026, 6, 30)
    )
    assert status == "planned"


def test_ended_service_with_temporary_cessation_is_ended() -> None:
    status = service_status(
        start=date(2026, 1, 1),
        end=date(2026, 6, 29),
        temporary_cessation=True,
        today=date(2026, 6, 30),
    )
    assert status == "ended"


def test_open_ended_service_never_ends() -> None:
    status = service_status(
        start=date(2000, 1, 1), end=None, temporary_cessation=False, today=date(9999, 12, 31)
    )
    assert status == "active"


def test_status_order_puts_current_services_first() -> None:
    assert sorted(STATUS_ORDER, key=STATUS_ORDER.__getitem__) == [
        "active",
        "planned",
        "paused",
        "ended",
    ]
    assert set(STATUS_ORDER) == set(get_args(Status))


def test_sort_key_orders_by_status_then_newest_start() -> None:
    services: list[tuple[Status, date]] = [
        ("ended", date(2026, 5, 1)),
        ("active", date(2020, 1, 1)),
        ("paused", date(2026, 2, 1)),
        ("active", date(2025, 3, 1)),
        ("planned", date(2026, 9, 1)),
        ("ended", date(2019, 1, 1)),
    ]
    ordered = sorted(services, key=lambda s: sort_key(status=s[0], start=s[1]))
    assert ordered == [
        ("active", date(2025, 3, 1)),
        ("active", date(2020, 1, 1)),
        ("planned", date(2026, 9, 1)),
        ("paused", date(2026, 2, 1)),
        ("ended", date(2026, 5, 1)),
        ("ended", date(2019, 1, 1)),
    ]


_DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))
_NEAR = st.integers(min_value=-3, max_value=3).map(lambda n: timedelta(days=n))


@st.composite
def _records(draw: st.DrawFn) -> tuple[date, date | None, bool, date]:
    start = draw(_DAYS)
    end = draw(st.none() | st.integers(0, 4000).map(lambda n: start + timedelta(days=n)))
    anchors = [start] if end is None else [start, end]
    today = draw(_DAYS | st.builds(lambda a, d: a + d, st.sampled_from(anchors), _NEAR))
    return start, end, draw(st.booleans()), today


@given(_records())
def test_every_record_has_exactly_one_status_consistent_with_the_rules(
    record: tuple[date, date | None, bool, date],
) -> None:
    start, end, cessation, today = record
    status = service_status(start=start, end=end, temporary_cessation=cessation, today=today)

    assert status in get_args(Status)
    ended = end is not None and end < today
    assert (status == "ended") == ended
    assert (status == "planned") == (not ended and start > today)
    within = start <= today and (end is None or today <= end)
    assert (status in ("active", "paused")) == within
    if within:
        assert (status == "paused") == cessation


@given(_DAYS, _DAYS, st.sampled_from(get_args(Status)), st.sampled_from(get_args(Status)))
def test_sort_key_ranks_status_before_start(
    start_a: date, start_b: date, status_a: Status, status_b: Status
) -> None:
    key_a = sort_key(status=status_a, start=start_a)
    key_b = sort_key(status=status_b, start=start_b)
    if STATUS_ORDER[status_a] != STATUS_ORDER[status_b]:
        assert (key_a < key_b) == (STATUS_ORDER[status_a] < STATUS_ORDER[status_b])
    else:
        assert (key_a < key_b) == (start_a > start_b)
