"""A measure's next occurrence in Norway: times of day, weekdays, intervals, the plan's start
and end, and the two daylight-saving switches, always from the caller's ``now``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journalloft.plugin import OSLO
from journalloft.services.tiltaksplan.schedule import (
    WEEKDAYS,
    next_occurrence,
    occurrence,
    schedule_errors,
)

TWICE_DAILY = {"times": ["20:00", "08:00"]}


def oslo(text: str) -> datetime:
    """A wall-clock time in Norway (``2026-11-22 08:00``), first instance if it is ambiguous."""
    return datetime.fromisoformat(text).replace(tzinfo=OSLO)


def following(
    schedule: dict[str, Any] | None,
    now: datetime,
    *,
    start: date = date(2026, 1, 5),
    end: date | None = None,
) -> datetime | None:
    return next_occurrence(schedule, start=start, end=end, now=now)


def utc(found: datetime | None) -> str:
    assert found is not None
    return found.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-22 07:59", "2026-11-22T08:00:00+01:00"),
        ("2026-11-22 08:00", "2026-11-22T08:00:00+01:00"),  # due now: still the next one
        ("2026-11-22 08:01", "2026-11-22T20:00:00+01:00"),
        ("2026-11-22 20:00", "2026-11-22T20:00:00+01:00"),
        ("2026-11-22 20:01", "2026-11-23T08:00:00+01:00"),
        ("2026-11-22 23:59", "2026-11-23T08:00:00+01:00"),
    ],
)
def test_times_of_day_on_both_sides_of_each_time(now: str, expected: str) -> None:
    found = following(TWICE_DAILY, oslo(now))
    assert found is not None
    assert found.isoformat() == expected


def test_a_second_past_the_time_is_past_it() -> None:
    now = oslo("2026-11-22 08:00").replace(second=1)
    assert utc(following(TWICE_DAILY, now)) == "2026-11-22 19:00"


def test_now_in_another_zone_is_the_same_instant() -> None:
    """The caller's ``now`` may come in UTC: 07:30 UTC is 08:30 in Oslo in November."""
    now = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)
    assert utc(following(TWICE_DAILY, now)) == "2026-11-22 19:00"
    assert utc(following(TWICE_DAILY, datetime(2026, 11, 22, 6, 59, tzinfo=UTC))) == (
        "2026-11-22 07:00"
    )


def test_across_the_march_switch_the_local_time_holds_and_the_offset_changes() -> None:
    """Clocks go from 02:00 to 03:00 on 29 March 2026: 08:00 is 07:00 UTC the day before and
    06:00 UTC that day (23 hours later, not 24)."""
    before = following(TWICE_DAILY, oslo("2026-03-28 07:00"))
    assert before is not None
    assert before.isoformat() == "2026-03-28T08:00:00+01:00"
    after = following(TWICE_DAILY, oslo("2026-03-28 20:30"))
    assert after is not None
    assert after.isoformat() == "2026-03-29T08:00:00+02:00"
    assert utc(after) == "2026-03-29 06:00"
    assert (after.astimezone(UTC) - before.astimezone(UTC)).total_seconds() == 23 * 3600
    # at 07:30 summer time (05:30 UTC) it is still ahead: a zone-less +01:00 would say 09:00
    assert utc(following(TWICE_DAILY, oslo("2026-03-29 07:30"))) == "2026-03-29 06:00"
    assert utc(following(TWICE_DAILY, oslo("2026-03-29 08:01"))) == "2026-03-29 18:00"


def test_a_time_in_the_spring_gap_falls_after_it() -> None:
    night = {"times": ["02:30"]}
    found = following(night, oslo("2026-03-29 00:00"))
    assert found is not None
    assert found.isoformat() == "2026-03-29T03:30:00+02:00"
    assert utc(following(night, oslo("2026-03-28 03:00"))) == "2026-03-29 01:30"


def test_across_the_october_switch() -> None:
    """Clocks go from 03:00 back to 02:00 on 25 October 2026: 08:00 is 06:00 UTC the day
    before and 07:00 UTC that day (25 hours later)."""
    before = following(TWICE_DAILY, oslo("2026-10-24 07:00"))
    assert before is not None
    assert before.isoformat() == "2026-10-24T08:00:00+02:00"
    after = following(TWICE_DAILY, oslo("2026-10-24 20:30"))
    assert after is not None
    assert after.isoformat() == "2026-10-25T08:00:00+01:00"
    assert (after.astimezone(UTC) - before.astimezone(UTC)).total_seconds() == 25 * 3600
    # 07:30 winter time is 06:30 UTC: 08:00 (07:00 UTC) is still ahead; a stale +02:00
    # would put it at 06:00 UTC, already past
    assert utc(following(TWICE_DAILY, datetime(2026, 10, 25, 6, 30, tzinfo=UTC))) == (
        "2026-10-25 07:00"
    )
    assert utc(following(TWICE_DAILY, datetime(2026, 10, 25, 7, 1, tzinfo=UTC))) == (
        "2026-10-25 19:00"
    )


def test_a_time_that_happens_twice_is_its_first_instance() -> None:
    night = {"times": ["02:30"]}
    found = following(night, oslo("2026-10-25 00:00"))
    assert found is not None
    assert found.isoformat() == "2026-10-25T02:30:00+02:00"
    # once the first 02:30 (00:30 UTC) has passed, the next is the next night's
    later = following(night, datetime(2026, 10, 25, 0, 31, tzinfo=UTC))
    assert later is not None
    assert later.isoformat() == "2026-10-26T02:30:00+01:00"
    # the second 02:15 (01:15 UTC), given in Oslo time: its wall clock is before 02:30, but
    # the first 02:30 is an hour ago
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC).astimezone(OSLO)
    assert second.fold == 1
    assert utc(following(night, second)) == "2026-10-26 01:30"


def test_weekdays() -> None:
    shower = {"times": ["10:00"], "weekdays": ["tue", "fri"]}
    # Friday 27 November 2026
    assert utc(following(shower, oslo("2026-11-27 09:59"))) == "2026-11-27 09:00"
    assert utc(following(shower, oslo("2026-11-27 10:01"))) == "2026-12-01 09:00"
    assert utc(following(shower, oslo("2026-11-28 08:00"))) == "2026-12-01 09:00"


def test_an_interval_counts_from_the_start() -> None:
    wound = {"times": ["11:00"], "every_days": 3}
    start = date(2026, 11, 20)
    assert utc(following(wound, oslo("2026-11-20 10:00"), start=start)) == "2026-11-20 10:00"
    assert utc(following(wound, oslo("2026-11-22 08:00"), start=start)) == "2026-11-23 10:00"
    assert utc(following(wound, oslo("2026-11-23 11:00"), start=start)) == "2026-11-23 10:00"
    assert utc(following(wound, oslo("2026-11-23 11:01"), start=start)) == "2026-11-26 10:00"


def test_the_plan_start_and_its_last_day() -> None:
    start = date(2026, 12, 1)
    assert utc(following(TWICE_DAILY, oslo("2026-11-22 08:00"), start=start)) == (
        "2026-12-01 07:00"
    )
    end = date(2026, 11, 22)
    assert utc(following(TWICE_DAILY, oslo("2026-11-22 19:59"), end=end)) == "2026-11-22 19:00"
    assert following(TWICE_DAILY, oslo("2026-11-22 20:01"), end=end) is None
    tomorrow = date(2026, 11, 23)
    assert utc(following(TWICE_DAILY, oslo("2026-11-22 20:01"), end=tomorrow)) == (
        "2026-11-23 07:00"
    )


def test_free_text_or_no_schedule_has_no_next_occurrence() -> None:
    assert following({"text": "ved behov"}, oslo("2026-11-22 08:00")) is None
    assert following(None, oslo("2026-11-22 08:00")) is None


def test_a_long_interval_is_found_within_its_bound() -> None:
    yearly = {"times": ["09:00"], "every_days": 365}
    start = date(2026, 1, 5)
    assert utc(following(yearly, oslo("2026-01-05 09:01"), start=start)) == "2027-01-05 08:00"


@pytest.mark.parametrize(
    ("schedule", "pointers"),
    [
        ({"times": ["08:00"]}, []),
        ({"text": "ved behov"}, []),
        ({"times": ["08:00"], "weekdays": ["mon"], "text": "og ved behov"}, []),
        ({"times": ["08:00"], "weekdays": ["mon"], "every_days": 2}, ["/schedule/every_days"]),
        ({"weekdays": ["mon"]}, ["/schedule/times", "/schedule"]),
        ({"every_days": 2, "text": "x"}, ["/schedule/times"]),
        ({"times": ["08:00", "08:00"]}, ["/schedule/times"]),
        ({"times": ["08:00"], "weekdays": ["mon", "mon"]}, ["/schedule/weekdays"]),
        ({"times": ["24:00"]}, ["/schedule/times/0"]),
        ({"times": ["０８:00"]}, ["/schedule/times/0"]),
    ],
)
def test_what_a_schedule_must_be(schedule: dict[str, Any], pointers: list[str]) -> None:
    assert [e.pointer for e in schedule_errors(schedule)] == pointers


def _every_occurrence(
    schedule: dict[str, Any], *, start: date, end: date | None, days: int
) -> list[datetime]:
    """Every occurrence from ``start`` for ``days`` days, the slow obvious way."""
    found = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if end is not None and day > end:
            break
        weekdays = schedule.get("weekdays")
        if weekdays is not None and WEEKDAYS[day.weekday()] not in weekdays:
            continue
        every = schedule.get("every_days")
        if every is not None and offset % every != 0:
            continue
        for text in schedule["times"]:
            hour, minute = map(int, text.split(":"))
            found.append(occurrence(day, time(hour, minute)))
    return found


times = st.lists(
    st.builds(
        lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59])
    ),
    min_size=1,
    max_size=4,
    unique=True,
)
schedules = st.one_of(
    st.builds(lambda t: {"times": t}, times),
    st.builds(
        lambda t, w: {"times": t, "weekdays": w},
        times,
        st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    ),
    st.builds(lambda t, n: {"times": t, "every_days": n}, times, st.integers(2, 40)),
)


@settings(max_examples=300, deadline=None)
@given(
    schedule=schedules,
    start_offset=st.integers(-60, 30),
    length=st.one_of(st.none(), st.integers(0, 60)),
    minutes=st.integers(0, 60 * 24 * 400),
)
def test_the_next_occurrence_is_the_first_of_all_occurrences_at_or_after_now(
    schedule: dict[str, Any], start_offset: int, length: int | None, minutes: int
) -> None:
    """Across 2026 and both switches: the answer is the earliest occurrence not before now."""
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    start = now.astimezone(OSLO).date() + timedelta(days=start_offset)
    end = None if length is None else start + timedelta(days=length)
    every = _every_occurrence(schedule, start=start, end=end, days=120)
    expected = min(
        (o for o in every if o.astimezone(UTC) >= now), key=lambda o: o.timestamp(), default=None
    )
    found = next_occurrence(schedule, start=start, end=end, now=now)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.astimezone(UTC) == expected.astimezone(UTC)
