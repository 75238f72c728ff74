"""A graceful stop: on ``SIGTERM`` a serving process drains before uvicorn shuts it down.

While it drains, the requests in flight finish; every new request (but ``/healthz``) is answered
``503`` with ``Retry-After`` and ``Connection: close``, so a load balancer or a client goes to
another instance; ``/readyz`` says not ready. When the last request in flight has finished, or
the grace period (``JOURNALLOFT_SHUTDOWN_GRACE_SECONDS``) is over, uvicorn's own exit runs:
it closes the socket, waits for what is left, runs the app's shutdown, and the process exits.

Open streams (the subscriptions to come) wait on :attr:`Lifecycle.stopping` and end with a
retry hint when it is set; they do not count as requests in flight.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("journalloft")

RETRY_AFTER_SECONDS = 2
"""What a request refused while draining is told: another instance, or this one restarted,
will answer by then."""

UNDRAINED = frozenset({"/healthz"})


class Lifecycle:
    """Requests in flight and whether this process is stopping."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.in_flight = 0
        self.draining = False
        self.stopping = asyncio.Event()
        """Set when the drain begins: streams end now, with a retry hint."""
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: Callable[[int, FrameType | None], Any] | None = None
        self._drain: asyncio.Task[None] | None = None

    def refuses(self, path: str) -> bool:
        return self.draining and path not in UNDRAINED

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    def install(self) -> None:
        """Take ``SIGTERM`` over from uvicorn (call from the app's lifespan, on its loop, in the
        main thread); uvicorn's handler runs once the drain is over."""
        self._loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        previous = signal.getsignal(signal.SIGTERM)
        if callable(previous):
            self._exit = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, sig: int, frame: FrameType | None) -> None:
        if self.draining or self._loop is None:
            self._finish(sig, frame)  # a second SIGTERM: stop now
            return
        self.draining = True
        self._loop.call_soon_threadsafe(self._begin_drain, sig)

    def _begin_drain(self, sig: int) -> None:
        log.info("SIGTERM: draining %d requests in flight", self.in_flight)
        self.stopping.set()
        self._idle = asyncio.Event()
        if self.in_flight == 0:
            self._idle.set()
        self._drain = asyncio.get_running_loop().create_task(self._drain_then_exit(sig))

    async def _drain_then_exit(self, sig: int) -> None:
        assert self._idle is not None
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.grace_seconds)
        except TimeoutError:
            log.warning("SIGTERM: %d requests still in flight after the grace", self.in_flight)
        self._finish(sig, None)

    def _finish(self, sig: int, frame: FrameType | None) -> None:
        if self._exit is not None:
            self._exit(sig, frame)
        else:  # nothing to hand over to: stop as SIGTERM would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)
