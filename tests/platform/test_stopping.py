"""A part that does not stop is left, named in the log with the stacks of what still runs, and
the other parts still stop: the process (or the test) never hangs on it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from journalloft.platform.core.stopping import bounded


async def _ignores_cancellation(started: asyncio.Event, released: asyncio.Event) -> None:
    started.set()
    while not released.is_set():
        try:
            await released.wait()
        except asyncio.CancelledError:
            continue  # the kind of bug this guards against


def test_a_step_that_never_ends_is_left_and_named(caplog: pytest.LogCaptureFixture) -> None:
    async def stop_all() -> tuple[str | None, str | None, float]:
        started, released = asyncio.Event(), asyncio.Event()
        stubborn = asyncio.create_task(_ignores_cancellation(started, released), name="stubborn")
        await started.wait()

        async def wait_for_it() -> None:
            await stubborn

        began = time.monotonic()
        stuck = await bounded("the stubborn part", wait_for_it(), seconds=0.2)
        after = await bounded("the next part", asyncio.sleep(0))
        took = time.monotonic() - began
        released.set()  # so that the test's own loop can close
        await stubborn
        return stuck, after, took

    with caplog.at_level(logging.ERROR, logger="journalloft.stopping"):
        stuck, after, took = asyncio.run(_with_timeout(stop_all()))
    assert took < 2
    assert stuck is not None
    assert "stopping the stubborn part did not finish within 0.2 s" in stuck
    assert "_ignores_cancellation" in stuck  # the stack of what it waited for
    assert after is None
    assert "the stubborn part" in caplog.text


def test_a_step_that_fails_is_logged_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise RuntimeError("closing failed")

    with caplog.at_level(logging.ERROR, logger="journalloft.stopping"):
        assert asyncio.run(bounded("the failing part", fails())) is None
    assert "stopping the failing part failed" in caplog.text


async def _with_timeout(coroutine: object) -> tuple[str | None, str | None, float]:
    async with asyncio.timeout(10):
        return await coroutine  # type: ignore[misc, no-any-return]
