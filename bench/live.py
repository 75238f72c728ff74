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

The subscribers are raw asyncio connections in this process (an HTTP/1.1 GET, chunked
``text/event-stream``), so a thousand cost the load generator little.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import cpu, data, stack

PORT = 8305
IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class LiveScale:
    subscriptions: int
    patients_each: int
    rate: float  # ingests a second
    seconds: float


FULL = LiveScale(1000, 50, 200.0, 20.0)
QUICK = LiveScale(100, 50, 50.0, 8.0)


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
        now = time.perf_counter()
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


async def ingest_at_rate(
    client: httpx.AsyncClient,
    token: str,
    knr: str,
    patients: list[str],
    *,
    rate: float,
    seconds: float,
    tag: str,
) -> dict[str, float]:
    """Single-record ingests at ``rate`` a second for ``seconds``; when each response was read."""
    responses: dict[str, float] = {}
    # each patient at most once a run: an event then shows the one record it was for (with two
    # for one patient close together, the first one's event may already show the second)
    order = random.Random(tag).sample(patients, len(patients))
    headers = {"Authorization": f"Bearer {token}"}
    failures = 0

    async def one(n: int) -> None:
        nonlocal failures
        record_id = f"{tag}-{n}"
        record = vitals(record_id, order[n % len(order)], datetime.now(UTC), 60 + n % 80)
        response = await client.post(
            f"/v1/tenants/{knr}/news2/records", json={"records": [record]}, headers=headers
        )
        if response.status_code == 200:
            responses[record_id] = time.perf_counter()
        else:
            failures += 1

    tasks = []
    start = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while n < due:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    if failures:
        log(f"{failures} ingests failed")
    return responses


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


async def measure(server: stack.Server, keys: dict[str, Any], scale: LiveScale) -> dict[str, Any]:
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

        def stack_ms(before: cpu.Snapshot, after: cpu.Snapshot, n: int) -> float:
            per = cpu.per_request_ms(before, after, n)
            return per["app"] + per["postgres"] + per["redis"]

        log("polling: lookups of one board's patients")
        await polling_lookups(client, tokens[legevakt], boards, 50)  # warm
        lookups = max(200, scale.subscriptions)
        before = cpu.snapshot(server.workers(), pg)
        await polling_lookups(client, tokens[legevakt], boards, lookups)
        lookup_ms = stack_ms(before, cpu.snapshot(server.workers(), pg), lookups)

        log(f"ingests at {scale.rate:g}/s with no stream open")
        before = cpu.snapshot(server.workers(), pg)
        baseline = await ingest_at_rate(
            client, tokens[epj], knr, patients, rate=scale.rate, seconds=scale.seconds, tag="b"
        )
        ingest_ms = stack_ms(before, cpu.snapshot(server.workers(), pg), len(baseline))

        log(f"{scale.subscriptions} subscriptions of {scale.patients_each} patients")
        rss_before = rss_mib(server)
        arrivals: dict[str, float] = {}
        subscribers = []
        for board in boards:
            response = await client.post(
                "/v1/news2/subscriptions",
                json={"patients": board},
                headers={"Authorization": f"Bearer {tokens[legevakt]}"},
            )
            response.raise_for_status()
            subscribers.append(
                Subscriber(server.port, response.json()["events"], tokens[legevakt], arrivals)
            )
        opened = time.perf_counter()
        readers = await open_all(subscribers)
        open_seconds = time.perf_counter() - opened
        refused = [s.ended for s in subscribers if s.ended]
        if refused:
            log(f"{len(refused)} streams did not open, e.g. {refused[0]}")
        await asyncio.sleep(1)
        rss_open = rss_mib(server)
        log(f"{len(readers)} streams open and idle for {IDLE_SECONDS:g} s")
        before = cpu.snapshot(server.workers(), pg)
        idle_started = time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle_ms_per_s = stack_ms(before, cpu.snapshot(server.workers(), pg), 1) / (
            time.perf_counter() - idle_started
        )

        log(f"ingests at {scale.rate:g}/s with {len(subscribers)} streams open")
        before = cpu.snapshot(server.workers(), pg)
        run_started = time.perf_counter()
        sent = await ingest_at_rate(
            client, tokens[epj], knr, patients, rate=scale.rate, seconds=scale.seconds, tag="r"
        )
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and not set(sent) <= set(arrivals):
            await asyncio.sleep(0.1)
        after = cpu.snapshot(server.workers(), pg)
        run_seconds = time.perf_counter() - run_started
        events = sum(s.events for s in subscribers)
        # per ingest, less what the open streams cost while idle (heartbeats, subscription
        # checks) over the same time: that is paid whether changes come or not
        run_ms = (stack_ms(before, after, 1) - idle_ms_per_s * run_seconds) / max(1, len(sent))
        ended = [s.ended for s in subscribers if s.ended]
        if ended:
            log(f"{len(ended)} streams ended, e.g. {ended[0]}")
        for s in subscribers:
            s.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    latencies = [(arrivals[r] - t) * 1000 for r, t in sent.items() if r in arrivals]
    per_event_ms = (run_ms - ingest_ms) * len(sent) / max(1, events)
    return {
        "subscriptions": scale.subscriptions,
        "patients_each": scale.patients_each,
        "rate": scale.rate,
        "seconds": scale.seconds,
        "ingested": len(sent),
        "delivered": len(latencies),
        "events": events,
        "missing": len(set(sent) - set(arrivals)),
        "refused_streams": len(refused),
        "ended_streams": len(ended),
        "open_seconds": round(open_seconds, 1),
        "latency_ms_p50": round(percentile(latencies, 0.5), 1),
        "latency_ms_p99": round(percentile(latencies, 0.99), 1),
        "latency_ms_mean": round(statistics.fmean(latencies), 1) if latencies else None,
        "cpu_ms_per_ingest_alone": round(ingest_ms, 3),
        "cpu_ms_per_ingest_with_streams": round(run_ms, 3),
        "cpu_ms_per_event": round(per_event_ms, 3),
        "cpu_ms_per_polling_lookup": round(lookup_ms, 3),
        "event_to_lookup": round(per_event_ms / lookup_ms, 3) if lookup_ms else None,
        "idle_cpu_ms_per_stream_minute": round(idle_ms_per_s * 60 / max(1, len(readers)), 2),
        "run_seconds": round(run_seconds, 1),
        "achieved_rate": round(len(sent) / run_seconds, 1) if run_seconds else None,
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_open": round(rss_open, 1),
        "kib_per_subscription": round((rss_open - rss_before) * 1024 / scale.subscriptions, 1),
    }


def phase_live(quick: bool, work: Path, redis_url: str, results: dict[str, Any]) -> None:
    scale = QUICK if quick else FULL
    live_stack = stack.Stack("live", work / "live", f"journalloft_bench_live_{int(quick)}")
    log("a fresh store with one tenant")
    live_stack.reset()
    live_stack.onboard([data.tenant_document(0)], PORT)
    env = live_stack.env(PORT) | {
        "JOURNALLOFT_REDIS_URL": redis_url,
        "JOURNALLOFT_PURGE_INTERVAL_SECONDS": "0",
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
        figures = asyncio.run(measure(server, live_stack.private_keys(), scale))
    log(json.dumps(figures))
    results["live"] = figures


def render_live(figures: dict[str, Any]) -> list[str]:
    f = figures
    return [
        "### Live subscriptions: PostgreSQL + Redis Streams, `journalloft serve --workers 1`",
        "",
        f"{f['subscriptions']:,} open event streams × {f['patients_each']} patients (each patient "
        f"on one board), single-record NEWS2 ingests at {f['rate']:g}/s for {f['seconds']:g} s "
        f"(the run, until the last event arrived, took {f.get('run_seconds')} s: "
        f"{f.get('achieved_rate')} ingests a second achieved) "
        "spread over all of them, each patient at most once; subscribers and ingester in "
        "one asyncio process on the same 2 cores, so a busy load generator reads responses late "
        "(a negative latency: the event arrived before the client read the ingest's response). "
        "CPU per event: the run's server CPU less the same ingests' CPU with no stream open and "
        "less the open streams' idle CPU over the run, per delivered event.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| ingested / delivered (missing) | {f['ingested']:,} / {f['delivered']:,} "
        f"({f['missing']}) |",
        f"| ingest response → event, p50 / p99 | {f['latency_ms_p50']} ms / "
        f"{f['latency_ms_p99']} ms |",
        f"| CPU per delivered event (app + pg + redis) | {f['cpu_ms_per_event']} ms |",
        f"| CPU per polling lookup of {f['patients_each']} patients | "
        f"{f['cpu_ms_per_polling_lookup']} ms |",
        f"| event ÷ lookup | {f['event_to_lookup']} |",
        f"| CPU per ingest alone / with streams open | {f['cpu_ms_per_ingest_alone']} ms / "
        f"{f['cpu_ms_per_ingest_with_streams']} ms |",
        f"| CPU of an idle open stream (heartbeats, checks) | "
        f"{f.get('idle_cpu_ms_per_stream_minute')} ms a minute |",
        f"| memory per open subscription | {f['kib_per_subscription']} KiB "
        f"({f['rss_mib_before']} → {f['rss_mib_open']} MiB) |",
        f"| opening every stream (snapshots) | {f['open_seconds']} s |",
        f"| streams refused / ended during the run | {f['refused_streams']} / "
        f"{f['ended_streams']} |",
        "",
    ]
