"""The soak phase: mixed traffic at about half the measured capacity for minutes, reported per
minute (requests/s, p50/p99, errors, the memory of every process), to show that memory and
latency stay flat and nothing fails.

The traffic is open-loop: requests start at a fixed rate whatever the answers take, as clients
in the field do, so a slower server shows as longer latency and more requests in flight, not as
a politely lower rate. The mix: lookups of 1 person (55 %) and of 50 (15 %), ingest batches of
20 fresh records (15 %), a citizen's audit log (10 %) and token requests (5 %).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import redis
from joserfc.jwk import ECKey, import_key

from bench import cpu, stack
from journalloft.client import token_form

MIX = (("lookup-1", 55), ("lookup-50", 15), ("ingest", 15), ("audit", 10), ("token", 5))
CALIBRATE_SECONDS = 15.0
CALIBRATE_CONCURRENCY = 16
MAX_IN_FLIGHT = 256
"""Past this many requests waiting, a new one is counted as an error (overload), not sent."""


@dataclass
class Minute:
    started: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class Traffic:
    """Everything a request of the mix needs: tokens, keys, people, a record counter."""

    base: str
    tenants: Sequence[str]
    ingest_tenant: str
    people: dict[str, list[str]]
    tokens: dict[str, str]
    keys: dict[str, ECKey]
    issuer: str
    rng: random.Random = field(default_factory=lambda: random.Random("soak"))
    sequence: int = 0

    def pick(self) -> str:
        return self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]

    def request(self, kind: str) -> tuple[str, str, dict[str, Any]]:
        """(method, path, httpx keyword arguments) of one request of this kind."""
        knr = self.rng.choice(self.tenants)
        if kind in ("lookup-1", "lookup-50"):
            size = 1 if kind == "lookup-1" else 50
            service = self.rng.choice(("news2", "kommunale-tjenester"))
            query = {"patients": self.rng.sample(self.people[knr], size), "kommuner": [knr]}
            return "POST", f"/v1/{service}/query", self._json(query, f"bench-{knr}-legevakt")
        if kind == "audit":
            person = {"patient": self.rng.choice(self.people[knr])}
            path = f"/v1/tenants/{knr}/audit/query"
            return "POST", path, self._json(person, f"bench-{knr}-drift")
        if kind == "ingest":
            self.sequence += 1
            now = datetime.now(UTC).isoformat()
            patients = self.people[self.tenants[0]]
            records = [
                {
                    "id": f"soak-{self.sequence}-{i}",
                    "patient": patients[(self.sequence * 20 + i) % len(patients)],
                    "updated": now,
                    "effective": now,
                    "pulse": 60 + i,
                    "spo2_scale": 1,
                }
                for i in range(20)
            ]
            path = f"/v1/tenants/{self.ingest_tenant}/news2/records"
            client = f"bench-{self.ingest_tenant}-epj"
            return "POST", path, self._json({"records": records}, client)
        client_id = f"bench-{knr}-legevakt"
        form = token_form(client_id, self.keys[client_id], audience=self.issuer)
        return "POST", "/oauth/token", {"data": form}

    def _json(self, body: Any, client_id: str) -> dict[str, Any]:
        return {
            "content": orjson.dumps(body),
            "headers": {
                "content-type": "application/json",
                "authorization": f"Bearer {self.tokens[client_id]}",
            },
        }


async def _one(client: httpx.AsyncClient, traffic: Traffic, kind: str) -> tuple[float, str | None]:
    method, path, options = traffic.request(kind)
    started = time.perf_counter()
    try:
        answer = await client.request(method, path, **options)
    except httpx.HTTPError as exc:
        return time.perf_counter() - started, f"{kind}: {type(exc).__name__}"
    took = time.perf_counter() - started
    return took, None if answer.status_code == 200 else f"{kind}: {answer.status_code}"


async def calibrate(traffic: Traffic, seconds: float = CALIBRATE_SECONDS) -> float:
    """Requests/s of the mix, closed loop at :data:`CALIBRATE_CONCURRENCY`: the capacity."""
    done = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CALIBRATE_CONCURRENCY)
    async with httpx.AsyncClient(base_url=traffic.base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await _one(client, traffic, traffic.pick())
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CALIBRATE_CONCURRENCY)))
        return done / (time.monotonic() - started)


async def soak(
    traffic: Traffic,
    *,
    rate: float,
    minutes: int,
    on_minute: Callable[[int, Minute], None],
) -> list[Minute]:
    """Open-loop traffic at ``rate`` requests/s for ``minutes``; ``on_minute`` after each."""
    results: list[Minute] = []
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=traffic.base, timeout=30, limits=limits) as client:
        start = time.monotonic()
        in_flight: set[asyncio.Task[None]] = set()
        for number in range(minutes):
            minute = Minute(started=time.monotonic())
            results.append(minute)
            first = start + number * 60
            sent = 0
            while True:
                due = first + sent / rate
                if due >= first + 60:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent += 1
                if len(in_flight) >= MAX_IN_FLIGHT:
                    minute.failed("overload")
                    continue

                async def run(kind: str, into: Minute) -> None:
                    took, error = await _one(client, traffic, kind)
                    into.latencies.append(took)
                    if error:
                        into.failed(error)

                task = asyncio.create_task(run(traffic.pick(), minute))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            on_minute(number, minute)
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
    return results


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def memory_mib(server: stack.Server, database: str | None) -> dict[str, float]:
    """Resident memory now of every process of the server, its PostgreSQL backends (private)
    and Redis (its own count)."""
    memory = {f"app-{pid}": stack._status_kib(pid, "VmRSS") / 1024 for pid in server.workers()}
    if database:
        memory["postgres-backends"] = cpu.private_mib(cpu.postgres_backends(database))[0]
        with redis.Redis.from_url(stack.REDIS_URL, socket_timeout=2) as client:
            info = client.info("memory")
        memory["redis"] = int(info["used_memory_rss"]) / 2**20
    return {k: round(v, 1) for k, v in memory.items()}


def run(
    server: stack.Server,
    *,
    tenants: Sequence[str],
    ingest_tenant: str,
    people: dict[str, list[str]],
    keys: dict[str, dict[str, Any]],
    minutes: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    clients = [f"bench-{k}-{r}" for k in tenants for r in ("legevakt", "drift")]
    clients.append(f"bench-{ingest_tenant}-epj")
    tokens = stack.get_tokens(server.base, keys, clients)
    issuer = httpx.get(server.base + "/.well-known/oauth-authorization-server").json()["issuer"]
    imported = {}
    for client_id in clients:
        key = import_key(keys[client_id])
        assert isinstance(key, ECKey)
        imported[client_id] = key
    traffic = Traffic(server.base, tenants, ingest_tenant, people, tokens, imported, issuer=issuer)
    capacity = asyncio.run(calibrate(traffic))
    rate = capacity / 2
    log(f"soak: capacity of the mix {capacity:.0f} requests/s; soaking at {rate:.0f}/s")
    rows: list[dict[str, Any]] = []

    def on_minute(number: int, minute: Minute) -> None:
        row = {
            "minute": number + 1,
            "requests_per_s": round(len(minute.latencies) / 60, 1),
            "p50_ms": round(percentile(minute.latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(minute.latencies, 0.99) * 1000, 1),
            "errors": sum(minute.errors.values()),
            "error_kinds": dict(minute.errors),
            "memory_mib": memory_mib(server, server.database),
        }
        rows.append(row)
        log(f"  soak {row}")

    asyncio.run(soak(traffic, rate=rate, minutes=minutes, on_minute=on_minute))
    return {"capacity": round(capacity, 1), "rate": round(rate, 1), "minutes": rows} | verdict(rows)


def verdict(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Flat or not: after the first minute (warm-up), the last minute's memory of each process
    and p99 against the second minute's. Growth of more than 10 % (and 5 MiB) in memory, or a p99
    more than 1.5 times the second minute's, is not flat; so is any error."""
    errors = sum(r["errors"] for r in rows)
    if len(rows) < 2:
        return {"flat": errors == 0, "errors": errors, "growth": {}}
    base, last = rows[1] if len(rows) > 2 else rows[0], rows[-1]
    growth = {}
    flat = errors == 0
    for name, mib in last["memory_mib"].items():
        before = base["memory_mib"].get(name)
        if before is None:
            continue
        growth[name] = round(mib - before, 1)
        if mib - before > max(5.0, before * 0.10):
            flat = False
    p99 = [r["p99_ms"] for r in rows[1:]] or [rows[0]["p99_ms"]]
    if base["p99_ms"] and last["p99_ms"] > 1.5 * base["p99_ms"]:
        flat = False
    return {
        "flat": flat,
        "errors": errors,
        "growth_mib": growth,
        "p99_ms_median": statistics.median(p99),
    }
