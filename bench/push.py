"""Single-record pushes (the way journal systems send) and the platform's idle CPU.

A journal system sends a NEWS2 measurement when it is taken: one record a request to the native
API, for one person, at its own time. :func:`single_pushes` sends such requests closed loop over
``connections`` raw keep-alive connections (the load generator costs microseconds a request: an
HTTP client library's millisecond would be the bench measuring itself on two shared cores), each
a new measurement for another of the tenants' people (realistic values from the NEWS2 service's
demo generator, taken within the last ten minutes), so that every push stores a record and
changes the person's entry, as in production. CPU per push is every process of the stack's:
the app's process tree, every PostgreSQL process of its database (backends, and the cluster's
checkpointer, background writer, WAL writer and postmaster) and Redis.

:func:`idle` is the same accounting with no traffic at all: what the platform's background work
(tenant cache reloads, the change outbox's sweeps, audit sealing, the change feed's reader) costs
a second.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench import cpu, stack
from bench.live import Poster
from journalloft.services.news2 import demo

IDLE_GRACE_SECONDS = 5.0
"""After the server answers, before an idle measurement: its workers' start-up (first
connections, the outbox's first sweep) is not what it costs while idle."""


def measurements(
    people: dict[str, Sequence[str]], count: int, *, now: datetime, tag: str
) -> list[tuple[str, bytes]]:
    """``count`` single-record ingest bodies, each a new measurement for another person
    (round-robin over the tenants, people at random), at its own time in the last ten minutes:
    (kommunenummer, body)."""
    rng = random.Random(tag)
    tenants = list(people)
    out: list[tuple[str, bytes]] = []
    while len(out) < count:
        knr = tenants[len(out) % len(tenants)]
        patient = rng.choice(people[knr])
        series = demo.demo_records(rng=rng, patients=[patient], now=now)
        record = series[-1]  # the newest of a series: realistic values, recorded_by, location
        effective = now - timedelta(seconds=rng.randint(0, 600))
        record["id"] = f"{tag}-{len(out)}"
        record["effective"] = effective.isoformat()
        record["updated"] = (effective + timedelta(seconds=rng.randint(5, 60))).isoformat()
        out.append((knr, orjson.dumps({"records": [record]})))
    return out


async def _push(
    port: int,
    tokens: dict[str, str],
    bodies: list[tuple[str, bytes]],
    *,
    connections: int,
    seconds: float,
) -> tuple[list[float], int, float]:
    """Closed loop: each connection sends the next body when its last answer came; until
    ``seconds`` have passed or the bodies are spent. (latencies in s, failures, elapsed s)."""
    latencies: list[float] = []
    failures = 0
    position = 0
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        nonlocal position, failures
        posters = {knr: Poster(port, token) for knr, token in tokens.items()}
        try:
            while time.monotonic() < deadline and position < len(bodies):
                knr, body = bodies[position]
                position += 1
                started = time.perf_counter()
                try:
                    status = await posters[knr].post(f"/v1/tenants/{knr}/news2/records", body)
                except (OSError, asyncio.IncompleteReadError):
                    posters[knr].close()
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures += 1
        finally:
            for poster in posters.values():
                poster.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return latencies, failures, time.monotonic() - started


def single_pushes(
    server: stack.Server,
    tokens: dict[str, str],
    people: dict[str, Sequence[str]],
    *,
    seconds: float,
    connections: int = 8,
    tag: str | None = None,
) -> dict[str, Any]:
    """Single-record NEWS2 pushes at ``connections`` in flight for ``seconds``: req/s, p50/p99
    and CPU ms per push of every process of the stack (``tokens``: each tenant's source's)."""
    tag = tag or f"push-{datetime.now(UTC):%Y%m%d%H%M%S}"
    # enough for 1 500 pushes a second (a single-record ingest costs ~2-9 ms of CPU here)
    bodies = measurements(people, int(seconds * 1500) + 200, now=datetime.now(UTC), tag=tag)
    warm = measurements(people, 200, now=datetime.now(UTC), tag=f"{tag}-warm")
    asyncio.run(_push(server.port, tokens, warm, connections=connections, seconds=30))
    accounting = cpu.Stack(server.workers, server.database)
    before = accounting.read()
    latencies, failures, elapsed = asyncio.run(
        _push(server.port, tokens, bodies, connections=connections, seconds=seconds)
    )
    spent = cpu.spent_ms(before, accounting.read())
    ordered = sorted(latencies) or [0.0]
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "errors": failures,
        "requests": len(latencies),
        "connections": connections,
        "cpu_ms": cpu.per_unit(spent, len(latencies)),
    }


def idle(server: stack.Server, seconds: float, *, tenants: int) -> dict[str, Any]:
    """CPU ms a second of every process of the stack with no traffic for ``seconds``."""
    time.sleep(IDLE_GRACE_SECONDS)
    accounting = cpu.Stack(server.workers, server.database)
    before = accounting.read()
    time.sleep(seconds)
    after = accounting.read()
    return {
        "tenants": tenants,
        "seconds": round(after.at - before.at, 1),
        "cpu_ms_per_s": cpu.per_unit(cpu.spent_ms(before, after), after.at - before.at),
    }
