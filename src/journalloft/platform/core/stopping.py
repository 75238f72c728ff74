"""Stopping a process's parts, each within a bound.

A process that is told to stop must stop: at 03:00 a server that hangs on ``SIGTERM`` is worse
than one that leaves something unclosed, and a test that hangs in its teardown hangs the whole
suite. Each part's stop runs within :data:`STEP_SECONDS`; a part that does not finish is left,
and the log says which, with the stack of every task the event loop still holds (what it waits
for), so that the cause can be found from the log alone.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable

log = logging.getLogger("journalloft.stopping")

STEP_SECONDS = 15.0


async def bounded(what: str, step: Awaitable[None], *, seconds: float = STEP_SECONDS) -> str | None:
    """Run ``step``; give up on it after ``seconds``. ``None`` when it finished (an exception
    it raised is logged, not raised: the other parts must still stop), else what the log says
    about it."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        if not task.cancelled() and task.exception() is not None:
            log.error("stopping %s failed", what, exc_info=task.exception())
        return None
    stacks = _stacks()
    task.cancel()
    report = f"stopping {what} did not finish within {seconds:g} s; left as it is. {stacks}"
    log.error("%s", report)
    return report


def _stacks() -> str:
    """The stack of every task of this loop but the current one."""
    out = io.StringIO()
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    out.write(f"{len(pending)} tasks still pending:\n")
    for task in pending:
        task.print_stack(limit=12, file=out)
    return out.getvalue()
