"""The ``live`` phase: open subscriptions on one server while journal systems ingest.

One ``journalloft serve`` process (PostgreSQL + Redis, the change feed a Redis Stream), S open
event streams of P patients each (every patient on one board), and single-record NEWS2 ingests
at R a second spread over all of them. It reports:

- the time from an ingest's response (as the ingesting client reads it) to the update event
  reaching the subscriber (p50, p99; negative when the event beat the response);
- the server's CPU (app + PostgreSQL + Redis) per delivered event: the CPU of the run with the
  streams open, less the CPU of the same ingests with none open, per event; beside the CPU of one
  lookup of P patients, what a polling board would make instead;
- the memory of the server per open subscription (RSS with the streams open, less before).

The subscribers are raw asyncio connections (an HTTP/1.1 GET, chunked ``text/event-stream``) in
a process of their own; the ingester posts over raw keep-alive connections from this one. An HTTP
client library costs about a millisecond of the load generator's CPU a request, and with the
subscribers in the same loop the ingester read its responses late: the figures were the bench's
own queueing.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
import redis.asyncio

from bench import ceilings, cpu, data, stack
from journalloft.platform.live.changes import DATA, STREAM_KEY

PORT = stack.port(8305)
IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class Shape:
    """How the changes arrive: ``rate`` changes a second, ``batch`` records (each for another
    person) to an ingest request."""

    rate: float
    batch: int

    @property
    def label(self) -> str:
        per = "single records" if self.batch == 1 else f"batches of {self.batch}"
        return f"{self.rate:g} changes/s in {per}"


@dataclass(frozen=True)
class LiveScale:
    subscriptions: int
    patients_each: int
    shapes: tuple[Shape, ...]
    seconds: float


# The figure: 200 changes a second over 1,000 boards. A journal system's push carries what
# was recorded since its last (batches of 10); single-record pushes are measured too, at a rate
# this 2-core machine's one server process sustains beside the streams (a single-record ingest
# costs the server ~9 ms of CPU here: 200 a second would be the ingests' own queue, not the
# streams').
FULL = LiveScale(1000, 50, (Shape(200.0, 10), Shape(50.0, 1)), 20.0)
QUICK = LiveScale(100, 50, (Shape(50.0, 5), Shape(20.0, 1)), 8.0)


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] live: {message}", flush=True)


def vitals(record_id: str, patient: str, at: datetime, pulse: int) -> dict[str, Any]:
    stamp = at.isoformat()
    return {
        "id": record_id,
        "patient": patient,
        "updated": stamp,
        "effective": stamp,
        "respiration_rate": 16,
        "spo2": 98,
        "spo2_scale": 1,
        "supplemental_oxygen": False,
        "systolic_bp": 120,
        "pulse": pulse,
        "consciousness": "A",
        "temperature": 37.0,
    }


class Subscriber:
    """One open event stream over a raw connection; notes when each record's update arrives."""

    def __init__(self, port: int, path: str, token: str, arrivals: dict[str, float]) -> None:
        self.port = port
        self.path = path
        self.token = token
        self.arrivals = arrivals
        self.snapshot = asyncio.Event()
        self.events = 0
        self.ended: str | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        self.writer = writer
        writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            self.ended = head.split(b"\r\n", 1)[0].decode()
            self.snapshot.set()
            return
        buffer = b""
        name = b""
        while True:
            size_line = await reader.readline()
            if not size_line:
                break
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                break
            chunk = await reader.readexactly(size + 2)
            buffer += chunk[:-2]
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                line = line.rstrip(b"\r")
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    self._event(name, line[5:].strip())
        self.ended = self.ended or "closed"

    def _event(self, name: bytes, payload: bytes) -> None:
        now = time.monotonic()
        if name == b"snapshot":
            self.snapshot.set()
        elif name == b"update":
            self.events += 1
            latest = json.loads(payload).get("latest")
            if latest is not None:
                self.arrivals.setdefault(latest["id"], now)
        elif name == b"disconnect":
            self.ended = payload.decode()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def subscribers_process(pipe: Connection, port: int, paths: list[str], token: str) -> None:
    """The subscribers, in a process of their own (so that reading a thousand streams does not
    delay the ingester's reading of its responses): told by ``pipe`` to open the next n
    streams (``("open", n)``), then to collect the arrivals of the records it names
    (``("collect", ids, seconds)``), each as often as it is asked, then to ``"close"``."""
    asyncio.run(_subscribers(pipe, port, paths, token))


async def _subscribers(pipe: Connection, port: int, paths: list[str], token: str) -> None:
    loop = asyncio.get_running_loop()
    arrivals: dict[str, float] = {}
    subscribers = [Subscriber(port, path, token, arrivals) for path in paths]

    async def command() -> Any:
        return await loop.run_in_executor(None, pipe.recv)

    readers: list[asyncio.Task[None]] = []
    done = 0
    while (order := await command()) != "close":
        if order[0] == "open":  # the next n streams
            n = order[1]
            opened = time.monotonic()
            readers += await open_all(subscribers[done : done + n])
            pipe.send(
                {
                    "open_seconds": time.monotonic() - opened,
                    "refused": [s.ended for s in subscribers[done : done + n] if s.ended],
                    "open": len(readers),
                }
            )
            done += n
            continue
        break
    counted = 0
    while order != "close":
        _, wanted, wait_seconds = order
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not set(wanted) <= set(arrivals):
            await asyncio.sleep(0.05)
        events = sum(s.events for s in subscribers)
        pipe.send(
            {
                "arrivals": {r: arrivals[r] for r in wanted if r in arrivals},
                "events": events - counted,
                "ended": [s.ended for s in subscribers if s.ended],
            }
        )
        counted = events
        order = await command()
    for s in subscribers:
        s.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


class Poster:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the status: the ingester's
    load generator, a few microseconds a request (an HTTP client library costs a millisecond,
    which at 200 requests a second on two shared cores is the bench measuring itself)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                self.writer.close()
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def ingest_at_rate(
    port: int,
    token: str,
    knr: str,
    patients: list[str],
    *,
    shape: Shape,
    seconds: float,
    tag: str,
    touched: set[str],
    connections: int = 16,
) -> dict[str, float]:
    """Ingests of ``shape.batch`` records at ``shape.rate`` records a second for ``seconds``,
    over a few keep-alive connections; when the response that carried each record was read
    (``time.monotonic``, the clock the subscribers' process reads too)."""
    responses: dict[str, float] = {}
    # each patient at most once a run: an event then shows the one record it was for (with two
    # for one patient close together, the first one's event may already show the second)
    order = random.Random(tag).sample(patients, len(patients))
    path = f"/v1/tenants/{knr}/news2/records"
    due: asyncio.Queue[int | None] = asyncio.Queue()
    failures: list[str] = []

    async def worker() -> None:
        poster = Poster(port, token)
        try:
            while (n := await due.get()) is not None:
                first = n * shape.batch
                at = datetime.now(UTC)
                records = [
                    vitals(f"{tag}-{i}", order[i % len(order)], at, 60 + i % 80)
                    for i in range(first, first + shape.batch)
                ]
                touched.update(r["patient"] for r in records)
                body = json.dumps({"records": records}).encode()
                try:
                    status = await poster.post(path, body)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    poster.close()
                    failures.append(type(exc).__name__)
                    continue
                if status == 200:
                    now = time.monotonic()
                    for record in records:
                        responses[record["id"]] = now
                else:
                    failures.append(str(status))
        finally:
            poster.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    requests_a_second = shape.rate / shape.batch
    start = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - start) < seconds:
        while n < int(elapsed * requests_a_second) + 1:
            due.put_nowait(n)
            n += 1
        await asyncio.sleep(0.002)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    if failures:
        log(f"{len(failures)} ingests failed, e.g. {failures[0]}")
    return responses


async def feed_at_rate(
    redis_url: str,
    database: str,
    knr: str,
    patients: list[str],
    *,
    shape: Shape,
    seconds: float,
    tag: str,
) -> dict[str, float]:
    """Real changes put on the change feed at ``shape.rate`` a second without the platform's
    ingest: for each person a new NEWS2 measurement (later than any before it) is written to
    the tenant's table by the bench's own connection, as an ingest's transaction would commit
    it, and then its change is appended to the feed, as the ingest does after its commit. The
    streams' read then finds a changed entry and sends it (an unchanged one is not sent). When
    each change was appended, keyed by its measurement's id (what its event shows as the
    latest). The insert's CPU is the bench's own backend's, which the run does not count."""
    at = datetime.now(UTC)
    rows = ceilings.prepared_rows(
        [vitals(f"{tag}-{i}", p, at, 60 + i % 80) for i, p in enumerate(patients)],
        source="bench-feed",
        now=at,
    )
    columns = list(rows[0]) if rows else []
    sql = (
        f"INSERT INTO tenant_{knr}.news2_measurement ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    client = redis.asyncio.Redis.from_url(redis_url)
    appended: dict[str, float] = {}
    conn = await psycopg.AsyncConnection.connect(
        stack.pg_url(database, driver=False), autocommit=True
    )
    try:
        start = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - start) < seconds and n < len(rows):
            while n < min(len(rows), int(elapsed * shape.rate) + 1):
                row = rows[n]
                await conn.execute(sql, [row[c] for c in columns])
                fields = {"t": DATA, "k": knr, "s": "news2", "p": row["patient"]}
                await client.xadd(STREAM_KEY, fields)  # type: ignore[arg-type]
                appended[row["record_id"]] = time.monotonic()
                n += 1
            await asyncio.sleep(0.002)
    finally:
        await conn.close()
        await client.aclose()
    return appended


async def polling_lookups(
    client: httpx.AsyncClient, token: str, boards: list[list[str]], count: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    semaphore = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with semaphore:
            response = await client.post(
                "/v1/news2/query", json={"patients": boards[i % len(boards)]}, headers=headers
            )
            response.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(count)))


async def open_all(subscribers: list[Subscriber]) -> list[asyncio.Task[None]]:
    """Open every stream, 32 at a time (each waits for its snapshot, a lookup of its patients:
    a thousand at once would queue past the query pool's timeout), one retry for a refusal."""
    readers: list[asyncio.Task[None]] = []
    semaphore = asyncio.Semaphore(32)

    async def one(subscriber: Subscriber) -> None:
        async with semaphore:
            for _ in range(2):
                subscriber.ended = None
                subscriber.snapshot.clear()
                task = asyncio.create_task(subscriber.run())
                await subscriber.snapshot.wait()
                if subscriber.ended is None:
                    readers.append(task)
                    return
                await asyncio.sleep(0.5)

    await asyncio.wait_for(asyncio.gather(*(one(s) for s in subscribers)), timeout=900)
    return readers


def rss_mib(server: stack.Server) -> float:
    total = 0
    for pid in server.workers():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def stack_ms(server: stack.Server, pg: list[int], before: cpu.Snapshot, n: int) -> float:
    per = cpu.per_request_ms(before, cpu.snapshot(server.workers(), pg), n)
    return per["app"] + per["postgres"] + per["redis"]


async def measure(
    server: stack.Server, keys: dict[str, Any], scale: LiveScale, redis_url: str
) -> dict[str, Any]:
    knr = data.kommunenummer(0)
    epj, legevakt = f"bench-{knr}-epj", f"bench-{knr}-legevakt"
    tokens = stack.get_tokens(server.base, keys, [epj, legevakt])
    patients = data.people(scale.subscriptions * scale.patients_each, seed="live-boards")
    boards = [
        patients[i * scale.patients_each : (i + 1) * scale.patients_each]
        for i in range(scale.subscriptions)
    ]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=limits) as client:
        log(f"one measurement for each of {len(patients):,} patients")
        at = datetime.now(UTC) - timedelta(hours=1)
        headers = {"Authorization": f"Bearer {tokens[epj]}"}
        for i in range(0, len(patients), 1000):
            batch = [vitals(f"seed-{p}", p, at, 70) for p in patients[i : i + 1000]]
            response = await client.post(
                f"/v1/tenants/{knr}/news2/records", json={"records": batch}, headers=headers
            )
            response.raise_for_status()
        pg = cpu.postgres_backends(server.database)

        log("polling: lookups of one board's patients")
        await polling_lookups(client, tokens[legevakt], boards, 50)  # warm
        lookups = max(200, scale.subscriptions)
        before = cpu.snapshot(server.workers(), pg)
        await polling_lookups(client, tokens[legevakt], boards, lookups)
        lookup_ms = stack_ms(server, pg, before, lookups)

        alone: list[tuple[float, float]] = []  # per shape: CPU per change, changes a second
        touched: set[str] = set()  # who has had a measurement since the seed

        async def ingest(shape: Shape, tag: str) -> dict[str, float]:
            return await ingest_at_rate(
                server.port,
                tokens[epj],
                knr,
                patients,
                shape=shape,
                seconds=scale.seconds,
                tag=tag,
                touched=touched,
            )

        for n, shape in enumerate(scale.shapes):
            log(f"{shape.label} with no stream open")
            before = cpu.snapshot(server.workers(), pg)
            started = time.monotonic()
            sent = await ingest(shape, f"b{n}")
            rate = len(sent) / (time.monotonic() - started)
            alone.append((stack_ms(server, pg, before, len(sent)), rate))

        log(f"{scale.subscriptions} subscriptions of {scale.patients_each} patients")
        rss_before = rss_mib(server)
        paths = []
        for board in boards:
            response = await client.post(
                "/v1/news2/subscriptions",
                json={"patients": board},
                headers={"Authorization": f"Bearer {tokens[legevakt]}"},
            )
            response.raise_for_status()
            paths.append(response.json()["events"])

    context = multiprocessing.get_context("spawn")
    pipe, child_pipe = context.Pipe()
    child = context.Process(
        target=subscribers_process, args=(child_pipe, server.port, paths, tokens[legevakt])
    )
    child.start()
    runs = []
    try:
        # half the streams, then the rest: the second half's memory is what one more stream
        # holds, once the snapshots' working memory (32 at a time) has been reached
        half = len(paths) // 2
        pipe.send(("open", half))
        opened = await asyncio.to_thread(pipe.recv)
        await asyncio.sleep(1)
        rss_half = rss_mib(server)
        pipe.send(("open", len(paths) - half))
        rest = await asyncio.to_thread(pipe.recv)
        refused = opened["refused"] + rest["refused"]
        if refused:
            log(f"{len(refused)} streams did not open, e.g. {refused[0]}")
        opened = {**rest, "open_seconds": opened["open_seconds"] + rest["open_seconds"]}
        await asyncio.sleep(1)
        rss_open = rss_mib(server)
        log(f"{opened['open']} streams open and idle for {IDLE_SECONDS:g} s")
        before = cpu.snapshot(server.workers(), pg)
        idle_started = time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        idle_ms_per_s = stack_ms(server, pg, before, 1) / (time.monotonic() - idle_started)

        async def with_streams(
            send: Awaitable[dict[str, float]],
        ) -> tuple[dict[str, float], dict[str, Any], float, float]:
            """Send changes with the streams open. What was sent; what the subscribers
            received; the server's CPU per change, less what the open streams cost while idle
            over the same time (heartbeats, subscription checks: paid whether changes come or
            not); and the rate achieved."""
            before = cpu.snapshot(server.workers(), pg)
            started = time.monotonic()
            sent = await send
            sent_by = time.monotonic()
            pipe.send(("collect", list(sent), 10.0))
            collected = await asyncio.to_thread(pipe.recv)
            run_seconds = time.monotonic() - started
            cpu_ms = stack_ms(server, pg, before, 1) - idle_ms_per_s * run_seconds
            return sent, collected, cpu_ms / max(1, len(sent)), len(sent) / (sent_by - started)

        for n, shape in enumerate(scale.shapes):
            log(f"{shape.label} with {len(paths)} streams open")
            sent, collected, run_ms, rate = await with_streams(ingest(shape, f"r{n}"))
            ingest_ms, alone_rate = alone[n]
            runs.append(
                figures_of_run(
                    shape, sent, collected, run_ms, ingest_ms, lookup_ms, alone_rate, rate
                )
            )
            log(json.dumps(runs[-1]))
        # the streams' own cost: real changes (a new measurement each, written by the bench's
        # own connection) put on the feed directly, as an ingest would after its commit, for
        # people not yet changed this run (each event then shows the one new measurement);
        # the server's CPU is then the streams' alone, with nothing to subtract but their idle
        # cost. At the issue's rate, and at the single-record pushes' trickle (where a change
        # rarely shares its read with another)
        untouched = [p for p in patients if p not in touched]
        for rate in dict.fromkeys((scale.shapes[0].rate, scale.shapes[-1].rate)):
            shape = Shape(rate, 1)
            log(f"{rate:g} changes/s put on the feed with {len(paths)} streams open")
            these, untouched = (
                untouched[: int(rate * scale.seconds) + 1],
                untouched[int(rate * scale.seconds) + 1 :],
            )
            assert server.database is not None
            sent, collected, run_ms, achieved = await with_streams(
                feed_at_rate(
                    redis_url,
                    server.database,
                    knr,
                    these,
                    shape=shape,
                    seconds=scale.seconds,
                    tag=f"fed{rate:g}",
                )
            )
            figures = figures_of_run(shape, sent, collected, run_ms, 0.0, lookup_ms, 0.0, achieved)
            label = f"{rate:g} real changes/s put on the feed (no ingest)"
            runs.append({**figures, "label": label, "fed": True})
            log(json.dumps(runs[-1]))
        pipe.send("close")
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
            for path in paths:  # as a board that closes ends its subscription
                subscription = path.split("/")[3]
                await client.delete(
                    f"/v1/news2/subscriptions/{subscription}",
                    headers={"Authorization": f"Bearer {tokens[legevakt]}"},
                )
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    return {
        "subscriptions": scale.subscriptions,
        "patients_each": scale.patients_each,
        "seconds": scale.seconds,
        "runs": runs,
        "refused_streams": len(refused),
        "open_seconds": round(opened["open_seconds"], 1),
        "cpu_ms_per_polling_lookup": round(lookup_ms, 3),
        "idle_cpu_ms_per_stream_minute": round(idle_ms_per_s * 60 / max(1, opened["open"]), 2),
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_open": round(rss_open, 1),
        "kib_per_subscription": round((rss_open - rss_before) * 1024 / scale.subscriptions, 1),
        "kib_per_further_subscription": round(
            (rss_open - rss_half) * 1024 / (len(paths) - half), 1
        ),
    }


def figures_of_run(
    shape: Shape,
    sent: dict[str, float],
    collected: dict[str, Any],
    run_ms: float,
    ingest_ms: float,
    lookup_ms: float,
    alone_rate: float,
    achieved_rate: float,
) -> dict[str, Any]:
    arrivals: dict[str, float] = collected["arrivals"]
    events = collected["events"]
    latencies = [(arrivals[r] - t) * 1000 for r, t in sent.items() if r in arrivals]
    per_event_ms = (run_ms - ingest_ms) * len(sent) / max(1, events)
    return {
        "rate": shape.rate,
        "batch": shape.batch,
        "label": shape.label,
        "ingested": len(sent),
        "delivered": len(latencies),
        "events": events,
        "missing": len(set(sent) - set(arrivals)),
        "ended_streams": len(collected["ended"]),
        "latency_ms_p50": round(percentile(latencies, 0.5), 1),
        "latency_ms_p99": round(percentile(latencies, 0.99), 1),
        "latency_ms_max": round(max(latencies), 1) if latencies else None,
        "cpu_ms_per_change_alone": round(ingest_ms, 3),
        "cpu_ms_per_change_with_streams": round(run_ms, 3),
        "cpu_ms_per_event": round(per_event_ms, 3),
        "event_to_lookup": round(per_event_ms / lookup_ms, 3) if lookup_ms else None,
        "alone_rate": round(alone_rate, 1),
        "achieved_rate": round(achieved_rate, 1),
    }


def phase_live(quick: bool, work: Path, redis_url: str, results: dict[str, Any]) -> None:
    scale = QUICK if quick else FULL
    live_stack = stack.Stack("live", work / "live", stack.database_name(f"live_{int(quick)}"))
    log("a fresh store with one tenant, and an empty Redis database")
    live_stack.reset()
    redis.Redis.from_url(redis_url).flushdb()  # the bench's own: earlier runs' subscriptions
    live_stack.onboard([data.tenant_document(0)], PORT)
    env = live_stack.env(PORT) | {
        "JOURNALLOFT_REDIS_URL": redis_url,
        "JOURNALLOFT_PURGE_INTERVAL_SECONDS": "0",
        # the sealer seals the snapshots' and earlier runs' audit events in bursts, landing in
        # whichever measurement it falls in; its cost per event (~17 µs) is bench.seal_cost's
        "JOURNALLOFT_AUDIT_SEAL_INTERVAL_SECONDS": "0",
    }
    argv = [str(stack.BIN / "journalloft"), "serve", "--port", str(PORT), "--workers", "1"]
    server = stack.Server(
        "journalloft (live)",
        argv,
        env=env,
        port=PORT,
        log=work / "live.log",
        database=live_stack.database,
    )
    with stack.running(server):
        figures = asyncio.run(measure(server, live_stack.private_keys(), scale, redis_url))
    log(json.dumps(figures))
    results["live"] = figures


def render_live(figures: dict[str, Any]) -> list[str]:
    f = figures
    runs = f["runs"]
    lines = [
        "### Live subscriptions: PostgreSQL + Redis Streams, `journalloft serve --workers 1`",
        "",
        " ".join(
            f"""{f["subscriptions"]:,} open event streams × {f["patients_each"]}
            patients (each patient on one board), NEWS2 measurements ingested for
            {f["seconds"]:g} s spread over all of them, each patient at most once a run,
            in two shapes: batches (each record of a batch for another board) and single
            records; then real changes put on the change feed without the ingest (a new
            measurement written by the bench's own connection, uncounted, then its
            change appended, as an ingest does after its commit), so that the server's
            CPU is the streams' own (with ingests it is a difference of two figures each
            noisier than an event's cost, a single-record ingest's above all). Audit
            sealing is off (its cost, ~17 µs an audit event, is measured on its own).
            The subscribers read their streams in a process of their own; the ingester
            posts over 16 keep-alive connections from another; both share the server's 2
            cores. Latency: from the ingester reading the response that carried a change
            (or the append) to the subscriber reading its event (one monotonic clock).
            CPU per event: the run's server CPU (app + PostgreSQL + Redis) less the same
            ingests' CPU with no stream open and less the open streams' idle CPU over
            the run, per delivered event; beside it, the CPU of the lookup a polling
            board of {f["patients_each"]} would make instead
            ({f["cpu_ms_per_polling_lookup"]} ms).""".split()
        ),
        "",
        "| figure | " + " | ".join(r["label"] for r in runs) + " |",
        "| --- |" + " --- |" * len(runs),
    ]

    def row(name: str, cell: Any) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(r) for r in runs) + " |")

    row(
        "changes a second achieved (with no stream open)",
        lambda r: f"{r['achieved_rate']}" + ("" if r.get("fed") else f" ({r['alone_rate']})"),
    )
    row(
        "changes / events delivered (missing)",
        lambda r: f"{r['ingested']:,} / {r['delivered']:,} ({r['missing']})",
    )
    row(
        "ingest response (or append) → event, p50 / p99 (max)",
        lambda r: f"{r['latency_ms_p50']} / {r['latency_ms_p99']} ({r['latency_ms_max']}) ms",
    )

    def per_event(r: dict[str, Any], figure: str) -> str:
        # a difference of two noisy figures can come out below zero: say so, not a number
        return "within the ingests' own spread" if r["cpu_ms_per_event"] <= 0 else figure

    row("CPU per delivered event", lambda r: per_event(r, f"{r['cpu_ms_per_event']} ms"))
    row("event ÷ polling lookup", lambda r: per_event(r, f"{r['event_to_lookup']}"))
    row(
        "CPU per change, ingest alone / with streams open",
        lambda r: (
            "—"
            if r.get("fed")
            else f"{r['cpu_ms_per_change_alone']} / {r['cpu_ms_per_change_with_streams']} ms"
        ),
    )
    row("streams ended during the run", lambda r: f"{r['ended_streams']}")
    lines += [
        "",
        f"Memory per open subscription: {f['kib_per_subscription']} KiB on average "
        f"({f['rss_mib_before']} → {f['rss_mib_open']} MiB of the server process, the "
        "snapshots' working memory included); each stream of the second half held "
        f"{f.get('kib_per_further_subscription')} KiB more. An idle open "
        f"stream (heartbeats, subscription checks): {f.get('idle_cpu_ms_per_stream_minute')} ms "
        f"of CPU a minute. Opening every stream (each a snapshot): {f['open_seconds']} s; "
        f"refused: {f['refused_streams']}.",
        "",
    ]
    return lines
