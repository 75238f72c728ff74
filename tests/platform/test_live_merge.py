"""A stream's replay and its live queue overlap while it opens: each change is sent once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from journalloft.platform.live.changes import Change, EventId, data_change, format_id
from journalloft.platform.live.hub import Hub, StreamInbox
from journalloft.platform.live.subscription_store import new_subscription
from journalloft.platform.operations.subscriptions import Event, Stream
from support import people

ANNE, BJORN = people(2, seed="live-merge")


class Recorded(Stream):
    """A stream whose events name the change they are for (no lookup, no store)."""

    async def _deliver(self, batch: Sequence[tuple[EventId, Change]]) -> AsyncIterator[Event]:
        for event_id, change in batch:
            self.position = event_id
            yield Event("update", format_id(event_id), change.patient)


class FakeRuntime:
    def __init__(self) -> None:
        self.hub = Hub()
        self.settings = type("S", (), {"heartbeat_seconds": 5.0})()


def test_a_change_in_both_the_replay_and_the_live_queue_is_sent_once() -> None:
    subscription = new_subscription(
        "legevakt", "news2", {"patients": [ANNE, BJORN]}, lifetime_seconds=60
    )
    changes = [((100, i), data_change("1804", "news2", [ANNE, BJORN][i % 2])) for i in range(4)]
    runtime: Any = FakeRuntime()
    # the stream reads only its caller's token expiry (none here) outside _deliver
    access: Any = type("A", (), {"caller": type("C", (), {"principal": _NoExpiry()})()})()

    async def run() -> list[str]:
        inbox = StreamInbox(subscription, limit=10)
        runtime.hub.register(inbox)
        for event_id, change in changes[1:]:  # committed after the stream registered
            inbox.offer(event_id, change)
        stream = Recorded(runtime, access, inbox, [], changes[:3], (99, 0))
        got = []
        async for event in stream.events():
            got.append(event.id)
            if len(got) == 4:
                break
        return got

    assert asyncio.run(run()) == ["100-0", "100-1", "100-2", "100-3"]


class _NoExpiry:
    expires_at = None
