"""The streams open in this process, and the one reader of the change feed that feeds them.

Each process reads the feed once (:meth:`Hub.dispatch` is the feed's listener) and hands each
change to the open streams whose subscription covers it, found through an index by person. A
stream's queue is bounded: a stream that does not keep up is marked ``overflowed`` rather than
having changes dropped, and ends with a reason; the board reconnects with its last id and is
given what it missed from the feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from journalloft.platform.live.changes import SUBSCRIPTION, Change, EventId
from journalloft.platform.live.subscription_store import Subscription


class StreamInbox:
    """One open event stream's place in the hub: its subscription as last read, and the changes
    waiting for it."""

    def __init__(self, subscription: Subscription, *, limit: int) -> None:
        self.subscription = subscription
        self.limit = limit
        self.pending: list[tuple[EventId, Change]] = []
        self.overflowed = False
        self.reset: str | None = None
        """Why the stream must start again from a snapshot (changes may have been lost)."""
        self.wake = asyncio.Event()

    def covers(self, change: Change) -> bool:
        if change.kind == SUBSCRIPTION:
            return change.patient == self.subscription.id
        kommuner = self.subscription.kommuner
        return (
            (change.service is None or change.service == self.subscription.service)
            and (kommuner is None or change.kommunenummer in kommuner)
            and change.patient in self.subscription.patients
        )

    def offer(self, event_id: EventId, change: Change) -> None:
        if len(self.pending) >= self.limit:
            self.overflowed = True
        else:
            self.pending.append((event_id, change))
        self.wake.set()

    def take(self) -> list[tuple[EventId, Change]]:
        taken, self.pending = self.pending, []
        self.wake.clear()
        return taken


class Hub:
    def __init__(self) -> None:
        self._by_patient: dict[str, set[StreamInbox]] = {}
        self._by_subscription: dict[str, set[StreamInbox]] = {}
        self._by_client: dict[str, int] = {}
        self.position: EventId = (0, 0)
        """The newest change handed to the streams: a new stream's snapshot is taken after it
        (it reads what committed before), and every later change reaches the stream through
        :meth:`dispatch`; a stream opens without a round trip to the feed."""

    @property
    def open_streams(self) -> int:
        return sum(len(c) for c in self._by_subscription.values())

    def streams_of(self, client_id: str) -> int:
        """How many streams the client has open in this process."""
        return self._by_client.get(client_id, 0)

    def admit(self, inbox: StreamInbox, *, limit: int) -> bool:
        """Register a new stream unless its client already has ``limit`` open in this process
        (then False, nothing registered): the count and the registration are one step."""
        if self.streams_of(inbox.subscription.client_id) >= limit:
            return False
        self.register(inbox)
        return True

    def register(self, inbox: StreamInbox) -> None:
        subscription = inbox.subscription
        client = subscription.client_id
        self._by_client[client] = self._by_client.get(client, 0) + 1
        self._by_subscription.setdefault(subscription.id, set()).add(inbox)
        for patient in subscription.patients:
            self._by_patient.setdefault(patient, set()).add(inbox)

    def unregister(self, inbox: StreamInbox) -> None:
        subscription = inbox.subscription
        client = subscription.client_id
        held = self._by_client.get(client, 0) - 1
        if held > 0:
            self._by_client[client] = held
        else:
            self._by_client.pop(client, None)
        self._discard(self._by_subscription, subscription.id, inbox)
        for patient in subscription.patients:
            self._discard(self._by_patient, patient, inbox)

    def replace(self, inbox: StreamInbox, subscription: Subscription) -> None:
        """The subscription's patient list changed: index the inbox by the new one."""
        self.unregister(inbox)
        inbox.subscription = subscription
        self.register(inbox)

    @staticmethod
    def _discard(index: dict[str, set[StreamInbox]], key: str, inbox: StreamInbox) -> None:
        found = index.get(key)
        if found is not None:
            found.discard(inbox)
            if not found:
                del index[key]

    def reset(self, reason: str) -> None:
        """Every open stream starts again from a snapshot, told why (the feed lost changes)."""
        for inboxes in list(self._by_subscription.values()):
            for inbox in list(inboxes):
                inbox.reset = reason
                inbox.wake.set()

    async def dispatch(self, batch: Sequence[tuple[EventId, Change]]) -> None:
        if batch:
            self.position = max(self.position, batch[-1][0])
        for event_id, change in batch:
            index = self._by_subscription if change.kind == SUBSCRIPTION else self._by_patient
            for inbox in list(index.get(change.patient, ())):
                if inbox.covers(change):
                    inbox.offer(event_id, change)
