"""Subscriptions and their event streams: a lookup kept up to date.

A subscription is a lookup's body (people, municipalities, the service's options) owned by the
client that made it. Its stream starts with a ``snapshot`` (exactly the lookup's answer) and then
sends an ``update`` per person whenever a write that changes what the lookup answers commits:
the person's entry, read through :func:`~.sharing.look_up_in_together` (gathered with the other
streams' reads of the moment, :mod:`.stream_reads`), which applies restrictions and commits each
stream's audit events before the event leaves. Event ids are the change feed's
(:mod:`journalloft.platform.live.changes`): a stream reopened with ``Last-Event-ID`` replays what it
missed within the replay window, else sends ``reset`` and a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from journalloft.platform.audit.log import record_access
from journalloft.platform.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidContent,
    NotFound,
    Problem,
    RateLimited,
    Unauthorized,
)
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.live.changes import (
    SUBSCRIPTION,
    Change,
    EventId,
    TooOld,
    format_id,
    parse_id,
    subscription_change,
)
from journalloft.platform.live.hub import StreamInbox
from journalloft.platform.live.subscription_store import Subscription, new_subscription
from journalloft.platform.operations.access import (
    ReaderAccess,
    readable_tenants,
    require_attestation,
    require_dpop_if_demanded,
)
from journalloft.platform.operations.sharing import entry_digest, look_up, lookup_patients
from journalloft.platform.operations.stream_reads import read_for_stream
from journalloft.platform.operations.units import in_unit_of_work
from journalloft.platform.runtime import Runtime

STREAMS_RETRY_AFTER_SECONDS = 5
"""The ``Retry-After`` of a stream refused because its client has the most open."""


def events_path(subscription_id: str) -> str:
    return f"/v1/subscriptions/{subscription_id}/events"


def describe(subscription: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it to its owner."""
    view: dict[str, Any] = {
        "id": subscription.id,
        "service": subscription.service,
        "patients": subscription.patients,
        "expires_at": datetime.fromtimestamp(subscription.expires_at, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "events": events_path(subscription.id),
    }
    if subscription.kommuner is not None:
        view["kommuner"] = subscription.kommuner
    if subscription.label is not None:
        view["label"] = subscription.label
    return view


LABEL = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
"""A subscription's label: the client's own name for it, 1–64 ASCII letters, digits and
``._:@-``."""


def _split_label(body: Any) -> tuple[Any, str | None]:
    """The lookup body without ``label``, and the label (None if not given); 422 for one that is
    not a label."""
    if not isinstance(body, dict) or "label" not in body:
        return body, None
    label = body["label"]
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise InvalidContent(
            "the subscription's label is not valid",
            errors=[FieldError("/label", "1 to 64 ASCII letters, digits and ._:@-")],
        )
    return {k: v for k, v in body.items() if k != "label"}, label


def _checked_body(runtime: Runtime, access: ReaderAccess, body: Any) -> dict[str, Any]:
    """The body of a lookup, valid, with each person once; the named municipalities must grant
    the client the service now (a subscription no municipality would answer is refused)."""
    patients = lookup_patients(runtime, access, body)
    readable_tenants(runtime, access, body.get("kommuner"))
    return {**body, "patients": patients}


async def create_subscription(runtime: Runtime, access: ReaderAccess, body: Any) -> Subscription:
    await runtime.tenants.refresh()
    body, label = _split_label(body)
    checked = _checked_body(runtime, access, body)
    subscription = new_subscription(
        access.caller.client_id,
        access.service.name,
        checked,
        lifetime_seconds=runtime.settings.subscription_lifetime_seconds,
        label=label,
    )
    limit = runtime.settings.subscriptions_per_client
    if not await run_in_threadpool(runtime.subscriptions.add, subscription, limit=limit):
        raise Conflict(
            f"this client already holds {limit} subscriptions, the most it may: end one "
            "(DELETE) or replace its people (PUT) instead of making another",
            title="Too many subscriptions",
        )
    tenants = readable_tenants(runtime, access, checked.get("kommuner"))
    await count_in_audit(
        runtime, access, tenants, action="subscribe", outcome="ok", n=len(checked["patients"])
    )
    return subscription


log = logging.getLogger("journalloft.live")
STREAM_CHANNEL = "stream"
"""The audit events' ``channel`` of a stream's reads: its snapshots and updates."""


async def count_in_audit(
    runtime: Runtime,
    access: ReaderAccess,
    tenants: Sequence[Tenant],
    *,
    action: str,
    outcome: str,
    n: int,
) -> None:
    """One event without a person in each municipality a subscription reads (``subscribe``,
    ``stream-open``), its count the subscription's people: the usage report's live figures.

    A count, not an access (the stream's reads are audited each as a lookup's): a municipality
    whose store cannot take it now is left uncounted and logged, and the stream still opens
    with the others, as a lookup answers without a municipality that is down."""

    def count(kommunenummer: str) -> None:
        def write(connection: Connection) -> None:
            record_access(
                connection,
                context=access.caller,
                action=action,
                service=access.service.name,
                patients=[(None, n)],
                outcome=outcome,
            )

        in_unit_of_work(runtime, kommunenummer, write)

    for tenant in tenants:
        try:
            await run_in_threadpool(count, tenant.kommunenummer)
        except Problem as problem:
            log.warning(
                "%s not counted for the usage report: tenant=%s %s",
                action,
                tenant.kommunenummer,
                problem.slug,
            )


async def owned_subscription(
    runtime: Runtime, access: ReaderAccess, subscription_id: str
) -> Subscription:
    """The caller's own subscription to this service; 404 for anyone else's (as if absent)."""
    found = await run_in_threadpool(runtime.subscriptions.get, subscription_id)
    if (
        found is None
        or found.client_id != access.caller.client_id
        or found.service != access.service.name
    ):
        raise NotFound("no such subscription of this client", title="Unknown subscription")
    return found


async def list_subscriptions(runtime: Runtime, access: ReaderAccess) -> list[Subscription]:
    mine = await run_in_threadpool(runtime.subscriptions.owned_by, access.caller.client_id)
    return [s for s in mine if s.service == access.service.name]


async def replace_patients(
    runtime: Runtime, access: ReaderAccess, subscription_id: str, body: Any
) -> Subscription:
    """A new body for the subscription (its open streams send a new snapshot); it expires a
    lifetime from now. Its label is kept unless the body gives another."""
    found = await owned_subscription(runtime, access, subscription_id)
    await runtime.tenants.refresh()
    body, label = _split_label(body)
    checked = _checked_body(runtime, access, body)
    now = time.time()
    updated = replace(
        found,
        body=checked,
        expires_at=now + runtime.settings.subscription_lifetime_seconds,
        label=label if label is not None else found.label,
    )
    await run_in_threadpool(runtime.subscriptions.save, updated)
    await run_in_threadpool(runtime.notify, [subscription_change(found.id)])
    return updated


async def end_subscription(runtime: Runtime, access: ReaderAccess, subscription_id: str) -> None:
    found = await owned_subscription(runtime, access, subscription_id)
    await run_in_threadpool(runtime.subscriptions.delete, found.id)
    await run_in_threadpool(runtime.notify, [subscription_change(found.id)])


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    id: str
    data: str

    def as_dict(self) -> dict[str, str]:
        return {"event": self.event, "id": self.id, "data": self.data}


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def disconnect(reason: str, position: EventId) -> Event:
    return Event("disconnect", format_id(position), _json({"reason": reason}))


class Stream:
    """One open event stream of one subscription: made by :func:`open_stream` (which raises the
    4xx a stream cannot open with), iterated by the native API, closed when it ends."""

    def __init__(
        self,
        runtime: Runtime,
        access: ReaderAccess,
        inbox: StreamInbox,
        opening: list[Event],
        missed: list[tuple[EventId, Change]],
        position: EventId,
    ) -> None:
        self.runtime = runtime
        self.access = access
        self.inbox = inbox
        self.opening = opening
        self.missed = missed
        self.position = position
        self.closed = False
        self.sent: dict[tuple[str, str], bytes] = {}
        """What this stream last sent for each person and municipality (:func:`entry_digest`):
        an update whose entry is still that is neither sent nor audited."""
        for event in opening:
            if event.event == "snapshot":
                self._sent_snapshot(event)

    def _sent_snapshot(self, snapshot: Event) -> None:
        self.sent = {
            (entry["patient"], entry["kommunenummer"]): entry_digest(entry)
            for entry in orjson.loads(snapshot.data).get("results", [])
        }

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.runtime.hub.unregister(self.inbox)

    def _now_access(self) -> ReaderAccess:
        """The access with the clock read now: audit events and the service's 'now' are each
        event's, not the stream's opening's."""
        caller = replace(self.access.caller, now=self.runtime.clock(), channel=STREAM_CHANNEL)
        return replace(self.access, caller=caller)

    async def events(self) -> AsyncIterator[Event]:
        try:
            while self.opening:  # each opening event let go once sent (a snapshot is large)
                yield self.opening.pop(0)
            pending = [(i, c) for i, c in self.missed if self.inbox.covers(c)]
            self.missed = []
            heartbeat = self.runtime.settings.heartbeat_seconds
            expires = self.access.caller.principal.expires_at
            while True:
                # what arrived live, less what the replay already holds (a change committed
                # while the stream opened is in both) and what was already sent
                seen = pending[-1][0] if pending else self.position
                pending += [(i, c) for i, c in self.inbox.take() if i > seen]
                if self.inbox.reset is not None:
                    reason, self.inbox.reset, pending = self.inbox.reset, None, []
                    async for event in self._start_again(reason):
                        yield event
                    continue
                if self.inbox.overflowed:
                    yield disconnect(
                        "too slow to keep up: reconnect with Last-Event-ID to get the rest",
                        self.position,
                    )
                    return
                if pending:
                    batch, pending = pending, []
                    async for event in self._deliver(batch):
                        yield event
                        if event.event == "disconnect":
                            return
                    continue
                if expires is not None and time.time() >= expires:
                    yield disconnect(
                        "the access token has expired: reconnect with a new one", self.position
                    )
                    return
                wait = heartbeat if expires is None else min(heartbeat, expires - time.time())
                try:
                    await asyncio.wait_for(self.inbox.wake.wait(), timeout=max(wait, 0.01))
                except TimeoutError:
                    found = await run_in_threadpool(
                        self.runtime.subscriptions.get, self.inbox.subscription.id
                    )
                    if found is None:
                        yield disconnect("the subscription has ended or expired", self.position)
                        return
        finally:
            self.close()

    async def _deliver(self, batch: Sequence[tuple[EventId, Change]]) -> AsyncIterator[Event]:
        """Events for a batch of changes, in order: consecutive changes in one municipality are
        read in one lookup (one audit write) and sent one event per change."""
        i = 0
        while i < len(batch):
            event_id, change = batch[i]
            if change.kind == SUBSCRIPTION:
                async for event in self._subscription_changed(event_id):
                    yield event
                    if event.event == "disconnect":
                        return
                i += 1
                continue
            j = i
            while (
                j < len(batch)
                and batch[j][1].kind != SUBSCRIPTION
                and batch[j][1].kommunenummer == change.kommunenummer
            ):
                j += 1
            group = batch[i:j]
            i = j
            async for event in self._updates(change.kommunenummer, group):
                yield event
                if event.event == "disconnect":
                    return

    async def _start_again(self, reason: str) -> AsyncIterator[Event]:
        """A ``reset`` and a fresh snapshot, taken after the newest change this process has."""
        position = self.runtime.hub.position
        answer = await look_up(self.runtime, self._now_access(), self.inbox.subscription.body)
        self.position = position
        yield Event("reset", format_id(position), _json({"reason": reason}))
        yield Event("snapshot", format_id(position), _json(answer))

    async def _subscription_changed(self, event_id: EventId) -> AsyncIterator[Event]:
        found = await run_in_threadpool(self.runtime.subscriptions.get, self.inbox.subscription.id)
        if found is None:
            yield disconnect("the subscription has ended or expired", self.position)
            return
        self.runtime.hub.replace(self.inbox, found)
        access = self._now_access()
        answer = await look_up(self.runtime, access, found.body)
        self.position = event_id
        snapshot = Event("snapshot", format_id(event_id), _json(answer))
        self._sent_snapshot(snapshot)
        yield snapshot

    async def _updates(
        self, kommunenummer: str, group: Sequence[tuple[EventId, Change]]
    ) -> AsyncIterator[Event]:
        access = self._now_access()
        tenant = await self._admitted(access, kommunenummer)
        if isinstance(tenant, Event):
            yield tenant
            return
        if tenant is None:  # a municipality the lookup would leave out now: so does the stream
            self.position = group[-1][0]
            return
        patients = list(dict.fromkeys(c.patient for _, c in group))
        sent = {p: self.sent[p, kommunenummer] for p in patients if (p, kommunenummer) in self.sent}
        found = await read_for_stream(
            self.runtime,
            access,
            tenant,
            patients=patients,
            options=self.inbox.subscription.body,
            sent=sent,
        )
        for event_id, change in group:
            self.position = event_id
            fields = found.get(change.patient)
            if fields is None:  # the entry this stream last sent: nothing to send
                continue
            entry: dict[str, Any] = {"patient": change.patient, "kommunenummer": kommunenummer}
            entry.update(fields)
            self.sent[change.patient, kommunenummer] = entry_digest(entry)
            yield Event("update", format_id(event_id), _json(entry))

    async def _admitted(self, access: ReaderAccess, kommunenummer: str) -> Tenant | Event | None:
        """The municipality if it still grants the client the service and its policy admits
        the stream's token; else, for a subscription that names it, the stream ends with the
        reason, and for one that does not, its changes are left out as a lookup leaves it out."""
        await self.runtime.tenants.refresh()
        named = self.inbox.subscription.kommuner
        try:
            [tenant] = readable_tenants(self.runtime, access, [kommunenummer])
            require_dpop_if_demanded(tenant, access.caller)
            require_attestation(tenant, access.caller)
        except (Forbidden, NotFound, Unauthorized) as problem:
            if named is not None:
                return disconnect(problem.detail, self.position)
            return None
        return tenant


async def open_stream(
    runtime: Runtime, access: ReaderAccess, subscription_id: str, last_event_id: str | None
) -> Stream:
    """Check and start a stream: the subscription must be the caller's, its municipalities must
    grant it now; the snapshot (or the replayed changes) is computed here, so that a refusal is
    the response's status, not an event."""
    subscription = await owned_subscription(runtime, access, subscription_id)
    access = replace(access, caller=replace(access.caller, channel=STREAM_CHANNEL))
    expires = access.caller.principal.expires_at
    if expires is not None and expires <= time.time():
        # A request is allowed the clock skew past exp; a stream, which ends at exp, is not (it
        # would send a snapshot and end at once, and again at every reconnect).
        scheme = "DPoP" if access.caller.principal.dpop_jkt else "Bearer"
        raise Unauthorized(
            "the access token has expired: a stream needs one that has not", scheme=scheme
        )
    await runtime.tenants.refresh()
    tenants = readable_tenants(runtime, access, subscription.kommuner)
    await count_in_audit(
        runtime,
        access,
        tenants,
        action="stream-open",
        outcome="open" if last_event_id is None else "reconnect",
        n=len(subscription.body["patients"]),
    )
    inbox = StreamInbox(subscription, limit=runtime.settings.stream_queue_limit)
    limit = runtime.settings.streams_per_client
    # first: nothing committed from here on is missed
    if not runtime.hub.admit(inbox, limit=limit):
        raise RateLimited(
            f"this client already has {limit} event streams open on this server, the most it "
            "may: close one first",
            retry_after=STREAMS_RETRY_AFTER_SECONDS,
        )
    try:
        opening: list[Event] = []
        missed: list[tuple[EventId, Change]] | None = None
        reason = None
        position: EventId = (0, 0)
        if last_event_id is not None:
            parsed = parse_id(last_event_id)
            if parsed is None:
                reason = "the Last-Event-ID is not an event id of this platform"
            else:
                try:
                    missed = await runtime.changes.after(parsed)
                    position = parsed
                except TooOld as exc:
                    reason = str(exc)
        if missed is None:
            position = runtime.hub.position
            answer = await look_up(runtime, access, subscription.body)
            if reason is not None:
                opening.append(Event("reset", format_id(position), _json({"reason": reason})))
            opening.append(Event("snapshot", format_id(position), _json(answer)))
            missed = []
        return Stream(runtime, access, inbox, opening, missed, position)
    except BaseException:
        runtime.hub.unregister(inbox)
        raise
