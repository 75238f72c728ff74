"""Reading a municipality's audit log: the citizen's access log (*innsyn i logg*), the review
feed for the municipality's log control, and the break-the-glass report. Reading the log is
itself an audit event. Every face (HTTP and the command line) calls these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection

from journalloft.platform.audit.log import (
    EPOCH,
    FEED_MAX_PAGE,
    FeedPage,
    FeedPosition,
    events_for_patient,
    events_page,
    feed_horizon,
    record_access,
)
from journalloft.platform.core.errors import FieldError, InvalidContent
from journalloft.platform.core.identifiers import person_id_errors
from journalloft.platform.core.instants import check_instant, parse_instant
from journalloft.platform.core.jsonschemas import SCHEMA_BASE
from journalloft.platform.operations.access import OperatorAccess
from journalloft.platform.operations.units import in_unit_of_work
from journalloft.platform.runtime import Runtime

AUDIT_QUERY_SCHEMA = SCHEMA_BASE + "platform/v1/audit-query.schema.json"


class AccessLog(TypedDict):
    patient: str
    kommunenummer: str
    events: list[dict[str, Any]]


class FeedAnswer(TypedDict):
    kommunenummer: str
    events: list[dict[str, Any]]
    next_cursor: str
    more: bool
    until: datetime


def access_log(runtime: Runtime, access: OperatorAccess, body: Any) -> AccessLog:
    """Who accessed one person's data in this municipality, newest first."""
    errors = runtime.schemas.errors(body, AUDIT_QUERY_SCHEMA)
    if not errors:
        errors = person_id_errors(
            [body["patient"]],
            allow_synthetic=bool(runtime.settings.allow_synthetic_ids),
            pointer=lambda _: "/patient",
        )
    if errors:
        raise InvalidContent("the audit query is not valid", errors=errors)
    patient: str = body["patient"]

    def read(connection: Connection) -> list[dict[str, Any]]:
        events = events_for_patient(connection, patient=patient)
        record_access(
            connection,
            context=access.caller,
            action="audit-read",
            service=None,
            patients=[(patient, len(events))],
        )
        return events

    events = in_unit_of_work(runtime, access.tenant.kommunenummer, read)
    return {"patient": patient, "kommunenummer": access.tenant.kommunenummer, "events": events}


def parse_since(value: str, *, now: datetime) -> datetime:
    """An RFC 3339 instant from a query string, where an unencoded ``+`` arrives as a space,
    within the range every instant must be in (``platform/core/instants.py``)."""
    return parse_instant(value.strip().replace(" ", "+"), now=now)


def feed_position(*, since: str | None, cursor: str | None, now: datetime) -> FeedPosition:
    """Where a page of the feed starts: ``cursor`` (from the previous page's ``next_cursor``)
    wins over ``since``; with neither, at the oldest event kept."""
    try:
        if cursor is not None:
            after = FeedPosition.from_cursor(cursor)
            check_instant(after.occurred_at, now=now)
            return after
        return FeedPosition.since(parse_since(since, now=now) if since is not None else EPOCH)
    except ValueError as exc:
        pointer = "/query/cursor" if cursor is not None else "/query/since"
        raise InvalidContent(
            "the feed position is not valid", errors=[FieldError(pointer, str(exc))]
        ) from exc


def review_feed(
    runtime: Runtime,
    access: OperatorAccess,
    *,
    after: FeedPosition,
    limit: int,
    break_the_glass_only: bool = False,
) -> FeedAnswer:
    """One page of the review feed, oldest first, of events at least two minutes old (see
    :func:`journalloft.platform.audit.log.events_page`). Reading it is an ``audit-feed`` event."""

    def read(connection: Connection) -> FeedPage:
        page = events_page(
            connection,
            after=after,
            until=feed_horizon(access.caller.now),
            limit=limit,
            break_the_glass_only=break_the_glass_only,
        )
        record_access(
            connection,
            context=access.caller,
            action="audit-feed",
            service=None,
            patients=[(None, len(page.events))],
        )
        return page

    page = in_unit_of_work(runtime, access.tenant.kommunenummer, read)
    return {
        "kommunenummer": access.tenant.kommunenummer,
        "events": page.events,
        "next_cursor": page.next_position.cursor(),
        "more": page.more,
        "until": page.until,
    }


def break_the_glass_report(
    runtime: Runtime, access: OperatorAccess, *, since: datetime
) -> list[dict[str, Any]]:
    """Every access that opened a restricted person since ``since``, as the review feed shows
    them (the same horizon: events at least two minutes old), in one ``audit-report`` event."""

    def read(connection: Connection) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = FeedPosition.since(since)
        while True:
            page = events_page(
                connection,
                after=position,
                until=feed_horizon(access.caller.now),
                limit=FEED_MAX_PAGE,
                break_the_glass_only=True,
            )
            events += page.events
            position = page.next_position
            if not page.more:
                break
        record_access(
            connection,
            context=access.caller,
            action="audit-report",
            service=None,
            patients=[(None, len(events))],
        )
        return events

    return in_unit_of_work(runtime, access.tenant.kommunenummer, read)
