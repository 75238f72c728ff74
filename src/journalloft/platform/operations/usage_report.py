"""Is the pilot working? A municipality's usage and data-quality report, for a period.

Computed only from the municipality's own store: its audit log (lookups, pushes, event streams)
and its record tables (the people each service covers), so every figure survives restarts and is
the same on every app server. Every figure is aggregated in the database (``GROUP BY`` on both
stores, never events loaded into Python): the hourly buckets, the distinct people and the data
age's percentiles come back as at most a few rows per hour of the period.

No person identifier, name, record id or free text is ever selected, let alone shown; every count
from 1 to 4 is shown as ``"<5"`` (small-cell suppression: a municipality publishes these figures,
and a count that small, with a day, a service and an organisation, can point at a person), and a
rate or percentile made from such a count is not shown at all (None). Reading the report is an
audit event of its own (``usage-report``), as the operator's.

Every face calls :func:`usage_report`; :mod:`journalloft.platform.http.report_pages` renders it as
CSV and HTML.
"""

from __future__ import annotations

import functools
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    case,
    cast,
    create_engine,
    distinct,
    func,
    select,
)
from sqlalchemy.exc import OperationalError

from journalloft.platform.audit.log import AUDIT_EVENT, record_access
from journalloft.platform.core.errors import FieldError, InvalidContent, ServiceUnavailable
from journalloft.platform.core.instants import OSLO
from journalloft.platform.operations.access import OperatorAccess
from journalloft.platform.operations.sharing import PUSH_OUTCOMES
from journalloft.platform.operations.units import in_unit_of_work
from journalloft.platform.runtime import Runtime
from journalloft.platform.storage.tables import TENANT

SMALL: Final = 5
"""Counts from 1 to ``SMALL - 1`` are shown as :data:`SUPPRESSED`."""
SUPPRESSED: Final = "<5"
REPORT_STATEMENT_TIMEOUT_SECONDS: Final = 300
"""PostgreSQL: the longest one of the report's statements may run (a read-only snapshot, so it
holds no lock a write waits for); longer is 503. A year of ten million events takes far less
(``bench/usage_report.py``)."""
MAX_DAYS: Final = 366
"""The longest period one report covers: a year (bounded work for any request)."""
TIMEZONE: Final = "Europe/Oslo"
READ = "read"
STREAM = "stream"

Cell = int | str
"""A count as shown: the count, or :data:`SUPPRESSED`."""


def cell(n: int) -> Cell:
    """Small-cell suppression: 0 and 5 or more as they are, 1–4 as ``"<5"``."""
    return SUPPRESSED if 0 < n < SMALL else n


def _shown(n: int) -> bool:
    return n == 0 or n >= SMALL


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` (4 decimals), or None when either count would be suppressed (a share of
    a suppressed count would tell the count) or ``whole`` is 0."""
    if whole == 0 or not (_shown(part) and _shown(whole)):
        return None
    return round(part / whole, 4)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days in Norway, ``first`` to ``last`` inclusive; as instants [start, end)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=OSLO).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=OSLO).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def _day(value: str | None, default: date, name: str, errors: list[FieldError]) -> date:
    if value is None:
        return default
    try:
        if len(value) == 10 and 2000 <= (day := date.fromisoformat(value)).year < 2200:
            return day
    except ValueError:
        pass
    errors.append(FieldError(f"/query/{name}", "must be a date, YYYY-MM-DD, 2000–2199"))
    return default


def parse_period(first: str | None, last: str | None, *, now: datetime) -> Period:
    """The period from ``YYYY-MM-DD`` dates (``to`` inclusive); without them the last 30 days
    up to today in Norway. :class:`InvalidContent` for anything else, or more than a year."""
    today = now.astimezone(OSLO).date()
    errors: list[FieldError] = []
    start = _day(first, today - timedelta(days=29), "from", errors)
    end = _day(last, today, "to", errors)
    if not errors:
        if end < start:
            errors.append(FieldError("/query/to", "must not be before from"))
        elif (end - start).days + 1 > MAX_DAYS:
            errors.append(FieldError("/query/to", f"a report covers at most {MAX_DAYS} days"))
        else:
            return Period(start, end)
    raise InvalidContent("the report's period is not valid", errors=errors)


def _utc_hour(column: Any, dialect: str) -> ColumnElement[str]:
    """The UTC hour of an instant as ``YYYY-MM-DD HH``, in SQL: Oslo's offset from UTC is whole
    hours, so each UTC hour is one hour in Norway, converted in Python (:func:`_local`) from a few
    thousand buckets rather than in each database's own way for millions of rows."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.substr(column, 1, 13)


@functools.lru_cache(maxsize=16_384)
def _local(bucket: str) -> datetime:
    hour = datetime(
        int(bucket[0:4]), int(bucket[5:7]), int(bucket[8:10]), int(bucket[11:13]), tzinfo=UTC
    )
    return hour.astimezone(OSLO)


@contextmanager
def _reading(runtime: Runtime, kommunenummer: str) -> Iterator[Connection]:
    """A read-only snapshot of the tenant's store. On SQLite a connection of its own that does
    not take the write lock (every unit of work does, see ``storage/engines.py``), so that a
    year's aggregation never holds up pushes and lookups."""
    stores = runtime.stores
    if stores.postgres:
        with stores.tenant_engine(kommunenummer).connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            connection.exec_driver_sql(
                f"SET LOCAL statement_timeout = {REPORT_STATEMENT_TIMEOUT_SECONDS * 1000}"
            )
            try:
                yield connection
            finally:
                connection.rollback()
        return
    path = stores.sqlite_path(kommunenummer)
    uri = f"{path.absolute().as_uri()}?mode=ro"  # percent-encoded: any folder name is safe
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False),
        hide_parameters=True,
    ).execution_options(schema_translate_map={TENANT: None})
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _in_period(period: Period) -> ColumnElement[bool]:
    table = AUDIT_EVENT
    return and_(table.c.occurred_at >= period.start, table.c.occurred_at < period.end)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _read_figures() -> list[Any]:
    t = AUDIT_EVENT
    return [
        func.count().label("n"),
        _count(t.c.result_count > 0).label("hits"),
        _count(t.c.outcome == "restricted").label("restricted"),
        _count(t.c.break_the_glass.is_(True)).label("glass"),
    ]


def _reads_by_hour(connection: Connection, period: Period) -> list[Any]:
    """Lookups per hour and service: at most 8 784 rows a service for a year."""
    t = AUDIT_EVENT
    hour = _utc_hour(t.c.occurred_at, connection.dialect.name).label("hour")
    return list(
        connection.execute(
            select(hour, t.c.service, *_read_figures())
            .where(t.c.action == READ, t.c.channel.is_(None), _in_period(period))
            .group_by(hour, t.c.service)
        )
    )


def _reads_by_consumer(connection: Connection, period: Period) -> list[Any]:
    """Lookups and a stream's reads per service and consumer organisation, for the period."""
    t = AUDIT_EVENT
    return list(
        connection.execute(
            select(t.c.service, t.c.organisasjonsnummer, t.c.channel, *_read_figures())
            .where(t.c.action == READ, _in_period(period))
            .group_by(t.c.service, t.c.organisasjonsnummer, t.c.channel)
        )
    )


def _people(connection: Connection, period: Period, *, by_organisation: bool) -> list[Any]:
    """Distinct people looked up, counted in SQL: only the count leaves the database."""
    t = AUDIT_EVENT
    keys = [t.c.service, t.c.organisasjonsnummer] if by_organisation else [t.c.service]
    return list(
        connection.execute(
            select(*keys, func.count(distinct(t.c.patient)))
            .where(t.c.action == READ, t.c.channel.is_(None), _in_period(period))
            .group_by(*keys)
        )
    )


def _data_age(connection: Connection, period: Period) -> list[Any]:
    """Per service: how many lookups found data, and the median and 90th percentile of its age
    (nearest rank), by window functions in SQL on both stores."""
    t = AUDIT_EVENT
    ranked = (
        select(
            t.c.service,
            t.c.data_age_seconds.label("age"),
            func.row_number()
            .over(partition_by=t.c.service, order_by=t.c.data_age_seconds)
            .label("nth"),
            func.count().over(partition_by=t.c.service).label("n"),
        )
        .where(
            t.c.action == READ,
            t.c.channel.is_(None),
            t.c.data_age_seconds.is_not(None),
            _in_period(period),
        )
        .subquery()
    )
    median_rank = cast((ranked.c.n + 1) // 2, Integer)
    p90_rank = cast((ranked.c.n * 9 + 9) // 10, Integer)
    return list(
        connection.execute(
            select(
                ranked.c.service,
                func.max(ranked.c.n),
                func.max(case((ranked.c.nth == median_rank, ranked.c.age))),
                func.max(case((ranked.c.nth == p90_rank, ranked.c.age))),
            )
            .where(ranked.c.nth.in_([median_rank, p90_rank]))
            .group_by(ranked.c.service)
        )
    )


def _changes_by_hour(connection: Connection, period: Period) -> list[Any]:
    t = AUDIT_EVENT
    hour = _utc_hour(t.c.occurred_at, connection.dialect.name).label("hour")
    return list(
        connection.execute(
            select(
                hour,
                t.c.service,
                t.c.client_id,
                t.c.action,
                t.c.outcome,
                func.count().label("events"),
                func.sum(t.c.result_count).label("records"),
            )
            .where(t.c.action.in_(["push", "push-refused", "withdraw"]), _in_period(period))
            .group_by(hour, t.c.service, t.c.client_id, t.c.action, t.c.outcome)
        )
    )


def _streams(connection: Connection, period: Period) -> list[Any]:
    t = AUDIT_EVENT
    return list(
        connection.execute(
            select(t.c.service, t.c.organisasjonsnummer, t.c.action, t.c.outcome, func.count())
            .where(t.c.action.in_(["subscribe", "stream-open"]), _in_period(period))
            .group_by(t.c.service, t.c.organisasjonsnummer, t.c.action, t.c.outcome)
        )
    )


def _covered_now(connection: Connection, runtime: Runtime, service: str) -> int:
    """The people a service holds visible records of now (counted in SQL)."""
    table = runtime.services[service].table
    now = connection.execute(
        select(func.count(distinct(table.c.patient))).where(table.c.withdrawn_at.is_(None))
    ).scalar_one()
    return int(now or 0)


def _newly_covered(connection: Connection, period: Period) -> list[Any]:
    """Per service and hour of the period, the people whose first record came then: the earliest
    ``write`` event of each (service, person), in one pass over the writes, in SQL."""
    t = AUDIT_EVENT
    first = (
        select(t.c.service, func.min(t.c.occurred_at).label("first"))
        .where(t.c.action == "write", t.c.patient.is_not(None))
        .group_by(t.c.service, t.c.patient)
        .subquery()
    )
    hour = _utc_hour(first.c.first, connection.dialect.name).label("hour")
    return list(
        connection.execute(
            select(first.c.service, hour, func.count())
            .where(first.c.first >= period.start, first.c.first < period.end)
            .group_by(first.c.service, hour)
        )
    )


def _organisation(value: str | None) -> str:
    return value or "unknown"


def usage_report(runtime: Runtime, access: OperatorAccess, period: Period) -> dict[str, Any]:
    """The municipality's report for ``period``: see the module's docstring and
    docs/operations.md ("The usage report") for each figure. Its reading is a ``usage-report``
    audit event of the operator's, committed before the report is returned."""
    tenant = access.tenant
    services = sorted(s for s in tenant.services if s in runtime.services)
    try:
        with _reading(runtime, tenant.kommunenummer) as connection:
            reads = _reads_by_hour(connection, period)
            consumers = _reads_by_consumer(connection, period)
            people_by_org = _people(connection, period, by_organisation=True)
            people_by_service = _people(connection, period, by_organisation=False)
            ages = _data_age(connection, period)
            changes = _changes_by_hour(connection, period)
            streams = _streams(connection, period)
            newly = _newly_covered(connection, period)
            coverage = {
                s: (_covered_now(connection, runtime, s), [(h, n) for v, h, n in newly if v == s])
                for s in services
            }
    except OperationalError:
        raise ServiceUnavailable(
            f"municipality {tenant.kommunenummer}: its database did not answer the report; "
            "try again later, or a shorter period"
        ) from None

    report = _assemble(
        period=period,
        services=services,
        reads=reads,
        consumers=consumers,
        people_by_org=people_by_org,
        people_by_service=people_by_service,
        ages=ages,
        changes=changes,
        streams=streams,
        coverage=coverage,
    )
    report = {
        "kommunenummer": tenant.kommunenummer,
        "name": tenant.name,
        "from": period.first,
        "to": period.last,
        "timezone": TIMEZONE,
        "generated_at": access.caller.now,
        "suppression": {
            "threshold": SMALL,
            "shown_as": SUPPRESSED,
            "rule": "counts from 1 to 4 are shown as <5; a rate or percentile made from such "
            "a count is null",
        },
        **report,
    }

    def audited(connection: Connection) -> None:
        record_access(
            connection,
            context=access.caller,
            action="usage-report",
            service=None,
            patients=[(None, 0)],
        )

    in_unit_of_work(runtime, tenant.kommunenummer, audited)
    return report


def _assemble(
    *,
    period: Period,
    services: list[str],
    reads: list[Any],
    consumers: list[Any],
    people_by_org: list[Any],
    people_by_service: list[Any],
    ages: list[Any],
    changes: list[Any],
    streams: list[Any],
    coverage: dict[str, Any],
) -> dict[str, Any]:
    zero = {"lookups": 0, "hits": 0, "restricted": 0, "break_the_glass": 0}
    by_service: dict[str, dict[str, int]] = defaultdict(lambda: dict(zero))
    by_org: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict(zero))
    per_day: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: dict(zero))
    per_hour: dict[tuple[int, str], int] = defaultdict(int)
    delivered: dict[tuple[str, str], int] = defaultdict(int)
    for hour, service, n, hits, restricted, glass in reads:
        local = _local(hour)
        figures = {
            "lookups": int(n),
            "hits": int(hits),
            "restricted": int(restricted),
            "break_the_glass": int(glass),
        }
        for target in (by_service[service], per_day[(local.date(), service)]):
            for key, value in figures.items():
                target[key] += value
        per_hour[(local.hour, service)] += int(n)
    for service, organisation, channel, n, hits, restricted, glass in consumers:
        consumer = (service, _organisation(organisation))
        if channel == STREAM:
            delivered[consumer] += int(n)
            continue
        figures = {
            "lookups": int(n),
            "hits": int(hits),
            "restricted": int(restricted),
            "break_the_glass": int(glass),
        }
        for key, value in figures.items():
            by_org[consumer][key] += value
    people_org = {(s, _organisation(o)): int(n) for s, o, n in people_by_org}
    people_service = {s: int(n) for s, n in people_by_service}
    age = {s: (int(n), median, p90) for s, n, median, p90 in ages}

    def lookup_figures(figures: dict[str, int], people: int) -> dict[str, Any]:
        return {
            "lookups": cell(figures["lookups"]),
            "people": cell(people),
            "hits": cell(figures["hits"]),
            "hit_rate": rate(figures["hits"], figures["lookups"]),
            "restricted": cell(figures["restricted"]),
            "break_the_glass": cell(figures["break_the_glass"]),
        }

    def data_age(service: str) -> dict[str, Any]:
        n, median, p90 = age.get(service, (0, None, None))
        shown = n >= SMALL
        return {
            "data_age_lookups": cell(n),
            "data_age_median_seconds": int(median) if shown and median is not None else None,
            "data_age_p90_seconds": int(p90) if shown and p90 is not None else None,
        }

    lookups = [
        {
            "service": s,
            **lookup_figures(by_service[s], people_service.get(s, 0)),
            **data_age(s),
        }
        for s in services
    ]
    consumers = [
        {
            "service": s,
            "organisasjonsnummer": o,
            **lookup_figures(by_org[(s, o)], people_org.get((s, o), 0)),
        }
        for s, o in sorted(by_org)
    ]
    days = period.days()
    lookups_per_day = [
        {
            "date": day,
            "service": s,
            "lookups": cell(per_day[(day, s)]["lookups"]),
            "hits": cell(per_day[(day, s)]["hits"]),
            "hit_rate": rate(per_day[(day, s)]["hits"], per_day[(day, s)]["lookups"]),
        }
        for day in days
        for s in services
    ]
    hour_profile = [
        {"hour": h, "service": s, "lookups": cell(per_hour[(h, s)])}
        for h in range(24)
        for s in services
    ]

    pushes: dict[tuple[str, str], dict[str, Any]] = {}
    push_days: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hour, service, source, action, outcome, _events, records in changes:
        entry = pushes.setdefault(
            (service, source),
            {**{o: 0 for o in PUSH_OUTCOMES}, "withdrawn": 0, "refused": defaultdict(int)},
        )
        n = int(records or 0)
        if action == "push":
            key = outcome
        elif action == "withdraw":
            key = "withdrawn"
        else:
            key = "refused"
            entry["refused"][outcome] += n
        if key != "refused":
            entry[key] += n
        push_days[(_local(hour).date(), service)][key] += n
    push_rows = [
        {
            "service": s,
            "source": source,
            **{o: cell(entry[o]) for o in PUSH_OUTCOMES},
            "withdrawn": cell(entry["withdrawn"]),
            "refused": {problem: cell(n) for problem, n in sorted(entry["refused"].items())},
        }
        for (s, source), entry in sorted(pushes.items())
    ]
    outcomes = (*PUSH_OUTCOMES, "refused", "withdrawn")
    pushes_per_day = [
        {"date": day, "service": s, **{o: cell(push_days[(day, s)][o]) for o in outcomes}}
        for day in days
        for s in services
    ]

    live: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"subscriptions": 0, "streams_opened": 0, "reconnects": 0}
    )
    for service, organisation, action, outcome, n in streams:
        entry_live = live[(service, _organisation(organisation))]
        if action == "subscribe":
            entry_live["subscriptions"] += int(n)
        elif outcome == "reconnect":
            entry_live["reconnects"] += int(n)
        else:
            entry_live["streams_opened"] += int(n)
    for consumer in delivered:
        live.setdefault(consumer, {"subscriptions": 0, "streams_opened": 0, "reconnects": 0})
    stream_rows = [
        {
            "service": s,
            "organisasjonsnummer": o,
            **{k: cell(v) for k, v in figures.items()},
            "events_delivered": cell(delivered[(s, o)]),
        }
        for (s, o), figures in sorted(live.items())
    ]

    coverage_rows = []
    for s in services:
        now, new = coverage[s]
        new_days: dict[date, int] = defaultdict(int)
        for hour, n in new:
            new_days[_local(hour).date()] += int(n)
        coverage_rows.append(
            {
                "service": s,
                "people_now": cell(now),
                "new_in_period": cell(sum(new_days.values())),
                "new_per_day": [{"date": d, "new": cell(new_days[d])} for d in days],
            }
        )
    return {
        "lookups": lookups,
        "consumers": consumers,
        "lookups_per_day": lookups_per_day,
        "hour_profile": hour_profile,
        "pushes": push_rows,
        "pushes_per_day": pushes_per_day,
        "streams": stream_rows,
        "coverage": coverage_rows,
    }
