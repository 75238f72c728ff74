"""The event streams' reads, gathered: one read for every stream a moment's changes wake.

An ingest that changes 10 people wakes the 10 boards (or more) that show them; each would make a
lookup of its own: one round trip and one audit write each. Here the reads that the streams of
one service and municipality ask for within ``STREAM_READ_WINDOW_MS`` (50 ms by default), with
the same service options, are made as one :func:`~.sharing.look_up_in_together`: one round
trip for all their people, and each stream's own audit events (its caller, its correlation id,
its break-the-glass), all committed in one write before any stream sends its event. The rules
of a lookup hold for each stream exactly as if it had read alone; what is shared is the work.

Each process gathers its own streams' reads, on its event loop. A stream ended while its read
was waiting is still audited as read (the read was made): the audit log may hold a read that
was not delivered, never a delivery that was not read.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.live.hub import Hub
from journalloft.platform.operations.access import ReaderAccess
from journalloft.platform.operations.sharing import look_up_in_together
from journalloft.platform.runtime import Runtime

Answer = dict[str, dict[str, Any]]
_NOT_OPTIONS = ("patients", "kommuner")


@dataclass
class Waiting:
    """The reads of one service, municipality and options waiting to be made together."""

    tenant: Tenant
    options: Mapping[str, Any]
    reads: list[tuple[ReaderAccess, Sequence[str]]] = field(default_factory=list)
    sent: list[Mapping[str, bytes]] = field(default_factory=list)
    answers: list[asyncio.Future[Answer]] = field(default_factory=list)


class Gathering:
    """One process's reads waiting to be made together, by what they read, and the tasks
    making them."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str, bytes], Waiting] = {}
        """By municipality, service and options (:func:`options_key`)."""
        self.tasks: set[asyncio.Task[None]] = set()


_GATHERINGS: weakref.WeakKeyDictionary[Hub, Gathering] = weakref.WeakKeyDictionary()
"""Each hub's gathering (a process has one hub, a test several): kept here, beside the reads
that use it, so that the hub knows nothing of them."""


def gathering_of(hub: Hub) -> Gathering:
    found = _GATHERINGS.get(hub)
    if found is None:
        found = _GATHERINGS[hub] = Gathering()
    return found


def options_key(options: Mapping[str, Any]) -> bytes:
    """The service options of a lookup body (what changes its query), in one spelling."""
    own = {k: v for k, v in options.items() if k not in _NOT_OPTIONS}
    return orjson.dumps(own, option=orjson.OPT_SORT_KEYS)


async def read_for_stream(
    runtime: Runtime,
    access: ReaderAccess,
    tenant: Tenant,
    *,
    patients: Sequence[str],
    options: Mapping[str, Any],
    sent: Mapping[str, bytes],
) -> Answer:
    """What :func:`~.sharing.look_up_in` answers for these people, read together with the other
    streams' reads of the same service, municipality and options that arrive within the window;
    their audit events are committed before this returns. A person whose entry is what the
    stream last sent (``sent``) is left out and not audited; one with nothing left is
    ``{"removed": true}`` (see :func:`~.sharing.look_up_in_together`)."""
    gathering = gathering_of(runtime.hub)
    key = (tenant.kommunenummer, access.service.name, options_key(options))
    loop = asyncio.get_running_loop()
    group: Waiting | None = gathering.waiting.get(key)
    if group is None:
        group = gathering.waiting[key] = Waiting(tenant, options)

        def start() -> None:
            task = loop.create_task(_read(runtime, gathering.waiting.pop(key)))
            gathering.tasks.add(task)
            task.add_done_callback(gathering.tasks.discard)

        loop.call_later(runtime.settings.stream_read_window_ms / 1000, start)
    answer: asyncio.Future[Answer] = loop.create_future()
    group.reads.append((access, patients))
    group.sent.append(sent)
    group.answers.append(answer)
    return await answer


async def _read(runtime: Runtime, group: Waiting) -> None:
    now = runtime.clock()  # one instant for the read and every one of its audit events
    reads = [(replace(a, caller=replace(a.caller, now=now)), p) for a, p in group.reads]
    try:
        answers = await look_up_in_together(
            runtime, group.tenant, reads, options=group.options, sent=group.sent
        )
    except Exception as exc:  # every stream learns it, as its own lookup would have failed
        for future in group.answers:
            if not future.done():
                future.set_exception(exc)
        return
    except BaseException:  # cancelled (the process is stopping): so are the streams' reads
        for future in group.answers:
            future.cancel()
        raise
    for future, found in zip(group.answers, answers, strict=True):
        if not future.done():
            future.set_result(found)
