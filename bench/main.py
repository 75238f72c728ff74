"""``python -m bench [--quick]``: the platform against the machine's own ceilings, in one run.

Phases (each prints as it goes; the table comes at the end and is appended to RESULTS.md):

1. PostgreSQL + Redis, the app as production runs it (``journalloft serve --workers 2``): data
   loaded through HTTP ingest in batches of 1000 (kept between runs while it is the same dataset
   and less than a day old), ingest rates for batches of 100 and 1000, the query matrix (both
   services, 1 and 50 patients, concurrency 1/32/128 with wrk and real tokens), peak memory, and
   one small tenant beside a large one.
2. Ceilings on the same data: (a) pgbench with the same lookup prepared, (b) a bare FastAPI
   endpoint with a psycopg 3 pool and orjson, (c) a FastAPI hello world; and the raw multi-row
   insert rate of the same NEWS2 rows.
   Then single-record NEWS2 pushes at c=8 (bench/push.py: as journal systems send, CPU a push
   across every process of the stack), and the platform's idle CPU (no traffic) at start.
3. 357 tenants holding the same total data as the 2 tenants: latency, CPU, idle CPU and memory
   (the app's and its PostgreSQL backends' PSS, private and RSS).
4. The embedded default (SQLite, one process): 10 000 people per tenant.

Every run ends with every target and its measured value. ``--compare REV`` runs the chosen phases
for REV and this checkout alternately and prints B/A per point (bench/compare.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import ceilings, cpu, data, live, load, push, soak, stack
from bench import fhir as bench_fhir
from bench.load import Request
from bench.report import render, write_results

ROOT = stack.ROOT
WORK = Path(os.environ.get("BENCH_WORKDIR") or ROOT / "var" / "bench")
PYTHONPATH = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
PORTS = {
    name: stack.port(base)
    for name, base in {
        "platform": 8301,
        "bare": 8302,
        "hello": 8303,
        "sqlite": 8304,
        "soak": 8315,
    }.items()
}
SERVICES = data.SERVICES
DATASET_MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Scale:
    name: str
    people: int  # per tenant, 2 tenants
    small_people: int  # the small tenant beside a large one
    many_tenants: int  # the scaling run: same total people over this many tenants
    sqlite_people: int  # per tenant in the embedded default, 2 tenants
    seconds: float  # per load point
    ingest_batches_1000: int
    ingest_batches_100: int
    million_people: int  # the large tenant of the 10 000 vs 1 000 000 run (lean data)
    idle_seconds: float = 60.0  # no traffic: a minute holds one outbox sweep and one seal


FULL = Scale("full", 30_000, 10_000, 357, 10_000, 6.0, 40, 300, 1_000_000)
QUICK = Scale("quick", 2_000, 500, 357, 1_000, 2.0, 8, 40, 20_000, 5.0)
WARM_UP_MANY_SECONDS = {"full": 30.0, "quick": 4.0}
"""Per service, before the 357-tenant points: long enough that the connections have prepared
every tenant's statements, as in a server that has run for minutes (a fresh one plans each
tenant's statements on each connection once)."""


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# -- datasets ------------------------------------------------------------------------------------


@dataclass
class Dataset:
    stack: stack.Stack
    tenants: dict[str, int]  # kommunenummer -> people
    ingest_tenant: str | None = None
    shape: str = "board"  # data.SHAPES
    _people: dict[str, list[str]] = field(default_factory=dict)

    def people(self, knr: str) -> list[str]:
        if knr not in self._people:
            self._people[knr] = data.people(self.tenants[knr], seed=f"bench-{knr}")
        return self._people[knr]


def ensure_dataset(
    dataset: Dataset, *, port: int, workers: int, results: dict[str, Any], key: str
) -> None:
    """Onboard and load through HTTP unless the same dataset is already there and fresh."""
    wanted = {
        "tenants": dataset.tenants,
        "ingest_tenant": dataset.ingest_tenant,
        "generator": 2,
        **({"shape": dataset.shape} if dataset.shape != "board" else {}),
    }
    meta = dataset.stack.read_meta()
    if (
        meta
        and meta.get("wanted") == wanted
        and time.time() - meta.get("loaded_at", 0) < DATASET_MAX_AGE_SECONDS
    ):
        log(f"{dataset.stack.name}: reusing the loaded dataset ({meta['records']} records)")
        dataset.stack.migrate(port)
        results[key] = meta["load"]
        warm_store(dataset)
        return
    log(f"{dataset.stack.name}: new store, onboarding {len(wanted['tenants'])} tenants")
    dataset.stack.reset()
    documents = [data.tenant_document(i, knr) for i, knr in enumerate(dataset.tenants)]
    if dataset.ingest_tenant:
        documents.append(data.tenant_document(len(documents), dataset.ingest_tenant))
    onboarding = dataset.stack.onboard(documents, port)
    log(f"{dataset.stack.name}: onboarded in {onboarding:.1f} s; loading through HTTP ingest")
    for knr in dataset.tenants:  # before the server: a million ids take longer than keep-alive
        dataset.people(knr)
    server = stack.journalloft_server(
        dataset.stack, port=port, workers=workers, log=WORK / f"{dataset.stack.name}-load.log"
    )
    with stack.running(server):
        keys = dataset.stack.private_keys()
        tokens = stack.get_tokens(
            server.base, keys, [f"bench-{knr}-epj" for knr in dataset.tenants]
        )
        now = datetime.now(UTC)

        def batches() -> Any:
            started = time.monotonic()
            for i, knr in enumerate(dataset.tenants, 1):
                log(
                    f"{dataset.stack.name}: loading [{i}/{len(dataset.tenants)}] {knr} "
                    f"({dataset.tenants[knr]:,} people; {time.monotonic() - started:.0f} s so far)"
                )
                for service, records in data.batches(
                    dataset.people(knr),
                    now=now,
                    seed=f"records-{knr}",
                    tag="b",
                    shape=dataset.shape,
                ):
                    yield knr, service, tokens[f"bench-{knr}-epj"], records

        result = load.push(server.base, batches(), concurrency=4)
    loaded = {
        "records": result.records,
        "seconds": round(result.seconds, 1),
        "records_per_s": round(result.records_per_second),
        "errors": result.errors,
        "onboarding_s": round(onboarding, 1),
    }
    log(f"{dataset.stack.name}: loaded {loaded}")
    if result.errors:
        raise RuntimeError("loading failed; see the first error above")
    dataset.stack.write_meta(
        {"wanted": wanted, "loaded_at": time.time(), "records": result.records, "load": loaded}
    )
    results[key] = loaded
    warm_store(dataset)


def warm_store(dataset: Dataset) -> None:
    """Every point measures a warm cache: PostgreSQL's buffers, or the page cache of SQLite's
    files (which this VM empties while it is idle)."""
    if dataset.stack.database:
        relations, mib = stack.prewarm(dataset.stack.database)
        log(f"{dataset.stack.name}: {relations} tables and indexes ({mib:.0f} MiB) prewarmed")
        return
    files = sorted(dataset.stack.data_dir.rglob("*.sqlite3"))
    size = sum(len(path.read_bytes()) for path in files)
    log(f"{dataset.stack.name}: {len(files)} SQLite files ({size / 2**20:.0f} MiB) read")


# -- load points -----------------------------------------------------------------------------------


def query_requests(
    dataset: Dataset,
    service: str,
    size: int,
    tokens: dict[str, str] | None,
    *,
    count: int,
    tenants: Sequence[str] | None = None,
    bare: bool = False,
) -> list[Request]:
    """``count`` query requests spread round-robin over the tenants, real people of each."""
    rng = random.Random(f"{service}-{size}-{count}")
    chosen = list(tenants or dataset.tenants)
    people = {knr: dataset.people(knr) for knr in chosen}
    requests = []
    for i in range(count):
        knr = chosen[i % len(chosen)]
        body = orjson.dumps({"patients": rng.sample(people[knr], size)})
        if bare:
            requests.append(Request("POST", f"/bare/{service}/{knr}", body))
        else:
            assert tokens is not None
            token = tokens[f"bench-{knr}-legevakt"]
            requests.append(Request("POST", f"/v1/{service}/query", body, token))
    return requests


def settle(server: stack.Server, *, limit: float = 60.0) -> None:
    """Wait until the server has worked off what the previous point left queued (a closed-loop
    client stops sending, but the requests in flight still run): /healthz answers promptly."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.perf_counter()
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(server.base + "/healthz", timeout=limit)
        if time.perf_counter() - started < 0.05:
            return
        time.sleep(0.2)


def run_point(
    server: stack.Server,
    requests: list[Request],
    *,
    connections: int,
    seconds: float,
    name: str,
) -> dict[str, Any]:
    settle(server)
    pids = server.workers()
    backends = cpu.postgres_backends(server.database) if server.database else []
    before = cpu.snapshot(pids, backends)
    result = load.wrk(
        server.base,
        requests,
        connections=connections,
        seconds=seconds,
        workdir=WORK / "wrk",
        name=name,
    )
    point = result.as_dict()
    after = cpu.snapshot(pids, backends)
    point["cpu_ms"] = cpu.per_request_ms(before, after, result.requests)
    log(f"  {name:<34} c={connections:<4} {point}")
    return point


def query_matrix(
    server: stack.Server,
    dataset: Dataset,
    tokens: dict[str, str] | None,
    *,
    scale: Scale,
    label: str,
    points: Sequence[tuple[str, int, int]],
    bare: bool = False,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cache: dict[tuple[str, int], list[Request]] = {}
    for service, size, connections in points:
        if (service, size) not in cache:
            count = 2000 if size == 1 else 300
            cache[(service, size)] = query_requests(
                dataset, service, size, tokens, count=count, tenants=tenants, bare=bare
            )
        out[f"{service}/{size}/c{connections}"] = run_point(
            server,
            cache[(service, size)],
            connections=connections,
            seconds=scale.seconds,
            name=f"{label}-{service}-{size}p",
        )
    return out


def warm_up(base: str, requests: list[Request]) -> None:
    load.wrk(base, requests, connections=32, seconds=2, workdir=WORK / "wrk", name="warmup")


def matrix(scale: Scale) -> list[tuple[str, int, int]]:
    """Both services, 1 and 50 patients, concurrency 1, 32 and 128 (the quick run leaves 128)."""
    return [
        (service, size, connections)
        for service in ("news2", "kommunale-tjenester")
        for size in (1, 50)
        for connections in ((1, 32) if scale.name == "quick" else (1, 32, 128))
    ]


# -- phases --------------------------------------------------------------------------------------


def phase_postgres(scale: Scale, results: dict[str, Any]) -> Dataset:
    main_stack = stack.Stack(
        "pg-2", WORK / f"{scale.name}-pg-2", stack.database_name(f"{scale.name}_2")
    )
    tenants = {data.kommunenummer(0): scale.people, data.kommunenummer(1): scale.people}
    small = data.kommunenummer(2)
    tenants[small] = scale.small_people
    dataset = Dataset(main_stack, tenants, ingest_tenant=data.kommunenummer(3))
    port = PORTS["platform"]
    ensure_dataset(dataset, port=port, workers=2, results=results, key="load_pg")
    large = [data.kommunenummer(0), data.kommunenummer(1)]

    server = stack.journalloft_server(main_stack, port=port, workers=2, log=WORK / "pg-2.log")
    with stack.running(server):
        keys = main_stack.private_keys()
        clients = [f"bench-{knr}-legevakt" for knr in tenants]
        clients += [f"bench-{knr}-epj" for knr in (*large, dataset.ingest_tenant)]
        tokens = stack.get_tokens(server.base, keys, clients)
        log(f"platform: idle, no traffic for {scale.idle_seconds:g} s ({len(tenants) + 1} tenants)")
        results["idle_2"] = push.idle(server, scale.idle_seconds, tenants=len(tenants) + 1)
        log(f"  {results['idle_2']}")
        log("platform (PostgreSQL + Redis, 2 workers): ingest")
        results["ingest"] = ingest_phase(server, dataset, tokens, scale)
        log("platform (PostgreSQL + Redis, 2 workers): queries")
        warm_up(server.base, query_requests(dataset, "news2", 1, tokens, count=500, tenants=large))
        points = [*matrix(scale), ("news2", 1, 8)]
        results["platform"] = query_matrix(
            server,
            dataset,
            tokens,
            scale=scale,
            label="platform",
            points=points,
            tenants=large,
        )
        log("platform: the FHIR face")
        results["fhir"] = fhir_phase(server, dataset, tokens, scale, large)
        results["memory_2"] = server.peak_rss_mib()
        results["pg_memory_2"] = cpu.private_mib(cpu.postgres_backends(server.database))
        results["pg_backends_2"] = cpu.memory_mib(cpu.postgres_backends(server.database))
        log(
            f"  peak RSS (largest process, whole tree) MiB: {results['memory_2']}; "
            f"PostgreSQL backends (private MiB, count): {results['pg_memory_2']}; "
            f"{results['pg_backends_2']}"
        )
        log("one tenant: small vs large")
        scaling_points = [("news2", 1, 1), ("news2", 1, 32)]
        results["one_tenant"] = {
            "small": query_matrix(
                server,
                dataset,
                tokens,
                scale=scale,
                label="small-tenant",
                points=scaling_points,
                tenants=[small],
            ),
            "large": query_matrix(
                server,
                dataset,
                tokens,
                scale=scale,
                label="large-tenant",
                points=scaling_points,
                tenants=[large[0]],
            ),
            "people": {"small": scale.small_people, "large": scale.people},
        }
        log("platform: single-record NEWS2 pushes, c=8 (as journal systems send)")
        settle(server)
        results["push"] = push.single_pushes(
            server,
            {knr: tokens[f"bench-{knr}-epj"] for knr in large},
            {knr: dataset.people(knr) for knr in large},
            seconds=scale.seconds,
        )
        log(f"  single-record pushes c=8: {results['push']} (cpu_ms per push, every process)")
    results["dataset_pg"] = {"tenants": len(large), "people_per_tenant": scale.people}
    return dataset


def ingest_phase(
    server: stack.Server, dataset: Dataset, tokens: dict[str, str], scale: Scale
) -> dict[str, Any]:
    """NEWS2 ingest of fresh records (all created) into the ingest tenant, 4 requests in flight."""
    knr = dataset.ingest_tenant
    assert knr is not None
    token = tokens[f"bench-{knr}-epj"]
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    out: dict[str, Any] = {}
    raw_batches: list[list[dict[str, Any]]] = []
    for size, count in ((100, scale.ingest_batches_100), (1000, scale.ingest_batches_1000)):
        patients = data.people(count * size // 18 + 60, seed=f"ingest-{run}-{size}")
        rng = random.Random(f"ingest-{size}")
        records = data.news2_records(rng, patients, now=datetime.now(UTC), tag=f"i{run}-{size}")
        records = records[: count * size]
        encoded = [
            (knr, "news2", token, orjson.dumps({"records": records[i : i + size]}), size)
            for i in range(0, len(records), size)
        ]
        pids = server.workers()
        backends = cpu.postgres_backends(server.database)
        before = cpu.snapshot(pids, backends)
        result = load.push_encoded(server.base, encoded, concurrency=4)
        point = result.as_dict()
        after = cpu.snapshot(pids, backends)
        point["cpu_ms"] = cpu.per_request_ms(before, after, result.records)
        out[f"news2/{size}"] = point
        log(f"  ingest news2 batches of {size}: {point} (cpu_ms per record)")
        if size == 1000:
            raw_records = data.news2_records(
                rng, patients, now=datetime.now(UTC), tag=f"r{run}-{size}"
            )[: count * size]
            rows = ceilings.prepared_rows(raw_records, source="bench-raw", now=datetime.now(UTC))
            raw_batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    assert dataset.stack.database_url is not None
    raw = ceilings.raw_insert_rate(
        stack.pg_url(dataset.stack.database or "", driver=False), f"tenant_{knr}", raw_batches
    )
    log(f"  raw multi-row INSERT of the same rows (1000 a statement): {raw}")
    out["raw_insert_1000"] = raw
    for batch in raw_batches:
        for row in batch:
            row["record_id"] += "-copy"
    copy = ceilings.raw_copy_rate(
        stack.pg_url(dataset.stack.database or "", driver=False), f"tenant_{knr}", raw_batches
    )
    log(f"  raw COPY of the same rows (1000 a transaction): {copy}")
    out["raw_copy_1000"] = copy
    return out


def fhir_phase(
    server: stack.Server,
    dataset: Dataset,
    tokens: dict[str, str],
    scale: Scale,
    large: Sequence[str],
) -> dict[str, Any]:
    """The FHIR face in the same run as the native points: the board's 1-patient NEWS2
    ``POST _search`` at c=32 (beside the native query's ``news2/1/c32``), and transaction
    Bundles of 100 NEWS2 Observations (vital signs contained) into the ingest tenant."""
    rng = random.Random("fhir-search")
    requests = []
    for i in range(2000):
        knr = large[i % len(large)]
        person = rng.choice(dataset.people(knr))
        requests.append(bench_fhir.search_request(person, tokens[f"bench-{knr}-legevakt"]))
    out: dict[str, Any] = {
        "news2/1/c32": run_point(
            server, requests, connections=32, seconds=scale.seconds, name="fhir-news2-1p"
        )
    }
    knr = dataset.ingest_tenant
    assert knr is not None
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    count = scale.ingest_batches_100
    patients = data.people(count * 100 // 18 + 60, seed=f"fhir-{run}")
    records = data.news2_records(
        random.Random("fhir-ingest"), patients, now=datetime.now(UTC), tag=f"f{run}"
    )[: count * 100]
    token = tokens[f"bench-{knr}-epj"]
    bundles = [
        (knr, "news2", token, bench_fhir.transaction(records[i : i + 100]), 100)
        for i in range(0, len(records), 100)
    ]
    pids = server.workers()
    backends = cpu.postgres_backends(server.database)
    before = cpu.snapshot(pids, backends)
    result = load.push_encoded(server.base, bundles, concurrency=4, fhir=True)
    point = result.as_dict()
    point["cpu_ms"] = cpu.per_request_ms(before, cpu.snapshot(pids, backends), result.records)
    out["transaction/100"] = point
    log(f"  FHIR transaction Bundles of 100 Observations: {point} (cpu_ms per resource)")
    return out


def phase_ceilings(scale: Scale, dataset: Dataset, results: dict[str, Any]) -> None:
    assert dataset.stack.database
    large = [data.kommunenummer(0), data.kommunenummer(1)]
    url = stack.pg_url(dataset.stack.database, driver=False)
    log("ceiling (a): pgbench, prepared, the same lookup")
    first = large[0]
    ceilings.store_people(url, dataset.people(first))
    pg: dict[str, Any] = {}
    for service in SERVICES:
        for size in (1, 50):
            script = ceilings.pgbench_script(
                service, f"tenant_{first}", patients=size, people=dataset.tenants[first]
            )
            for clients in (32,) if scale.name == "quick" else (1, 32):
                name = f"pgbench-{service}-{size}p"
                pg[f"{service}/{size}/c{clients}"] = result = ceilings.pgbench(
                    dataset.stack.database,
                    script,
                    clients=clients,
                    seconds=scale.seconds,
                    workdir=WORK / "pgbench",
                    name=name,
                )
                log(f"  {name:<44} c={clients:<4} {result}")
    results["pgbench"] = pg

    log("ceiling (b): bare FastAPI + psycopg 3 pool + orjson, 2 workers")
    bare = stack.uvicorn_server(
        "bare",
        "bench.ceiling_apps:bare_app",
        port=PORTS["bare"],
        workers=2,
        database=dataset.stack.database,
        env={"BENCH_DSN": url, "PYTHONPATH": PYTHONPATH},
        log=WORK / "bare.log",
    )
    with stack.running(bare):
        warm_up(bare.base, query_requests(dataset, "news2", 1, None, count=500, bare=True))
        results["bare"] = query_matrix(
            bare,
            dataset,
            None,
            scale=scale,
            label="bare",
            points=matrix(scale),
            bare=True,
            tenants=large,
        )
        results["memory_bare"] = bare.peak_rss_mib()

    log("ceiling (c): FastAPI hello world, 2 workers")
    hello = stack.uvicorn_server(
        "hello",
        "bench.ceiling_apps:hello_app",
        port=PORTS["hello"],
        workers=2,
        env={"PYTHONPATH": PYTHONPATH},
        log=WORK / "hello.log",
    )
    with stack.running(hello):
        requests = [Request("GET", "/hello")]
        results["hello"] = {
            f"c{c}": run_point(hello, requests, connections=c, seconds=scale.seconds, name="hello")
            for c in (1, 32, 128)
        }


def phase_many_tenants(scale: Scale, results: dict[str, Any]) -> None:
    count = scale.many_tenants
    total = 2 * scale.people
    many_stack = stack.Stack(
        f"pg-{count}",
        WORK / f"{scale.name}-pg-{count}",
        stack.database_name(f"{scale.name}_{count}"),
    )
    tenants = {
        data.kommunenummer(i): total // count + (1 if i < total % count else 0)
        for i in range(count)
    }
    dataset = Dataset(many_stack, tenants)
    port = PORTS["platform"]
    ensure_dataset(dataset, port=port, workers=2, results=results, key="load_many")
    server = stack.journalloft_server(many_stack, port=port, workers=2, log=WORK / "pg-many.log")
    with stack.running(server):
        keys = many_stack.private_keys()
        tokens = stack.get_tokens(server.base, keys, [f"bench-{knr}-legevakt" for knr in tenants])
        log(f"platform with {count} tenants: idle, no traffic for {scale.idle_seconds:g} s")
        results["idle_many"] = push.idle(server, scale.idle_seconds, tenants=count)
        log(f"  {results['idle_many']}")
        log(f"platform with {count} tenants (same total data): queries over every tenant")
        for service in SERVICES:
            load.wrk(
                server.base,
                query_requests(dataset, service, 1, tokens, count=4 * count),
                connections=32,
                seconds=WARM_UP_MANY_SECONDS[scale.name],
                workdir=WORK / "wrk",
                name="warmup-many",
            )
        points = [
            ("news2", 1, 1),
            ("news2", 1, 32),
            ("news2", 50, 32),
            ("kommunale-tjenester", 1, 32),
            ("kommunale-tjenester", 50, 32),
        ]
        # a query names people of one tenant: 50 at once only where every tenant has 50
        points = [p for p in points if p[1] <= min(tenants.values())]
        results["many"] = query_matrix(
            server, dataset, tokens, scale=scale, label=f"{count}-tenants", points=points
        )
        results["memory_many"] = server.peak_rss_mib()
        results["pg_memory_many"] = cpu.private_mib(cpu.postgres_backends(server.database))
        results["pg_backends_many"] = cpu.memory_mib(cpu.postgres_backends(server.database))
        log(
            f"  peak RSS MiB: {results['memory_many']}; PostgreSQL: {results['pg_memory_many']}; "
            f"{results['pg_backends_many']}"
        )
    results["dataset_many"] = {"tenants": count, "people_total": total}


def phase_million(scale: Scale, results: dict[str, Any]) -> None:
    """One tenant of 10 000 people beside one of a million, the same lean data per person (one
    measurement and one service each): a lookup must cost the same in both."""
    million_stack = stack.Stack(
        "pg-million",
        WORK / f"{scale.name}-pg-million",
        stack.database_name(f"{scale.name}_million"),
    )
    small, large = data.kommunenummer(0), data.kommunenummer(1)
    sizes = {"small": 10_000 if scale.name == "full" else 1_000, "large": scale.million_people}
    dataset = Dataset(million_stack, {small: sizes["small"], large: sizes["large"]}, shape="lean")
    port = PORTS["platform"]
    ensure_dataset(dataset, port=port, workers=2, results=results, key="load_million")
    server = stack.journalloft_server(
        million_stack, port=port, workers=2, log=WORK / "pg-million.log"
    )
    with stack.running(server):
        keys = million_stack.private_keys()
        tokens = stack.get_tokens(
            server.base, keys, [f"bench-{knr}-legevakt" for knr in dataset.tenants]
        )
        log(f"one tenant: {sizes['small']:,} vs {sizes['large']:,} people")
        warm_up(server.base, query_requests(dataset, "news2", 1, tokens, count=500))
        points = [("news2", 1, 1), ("news2", 1, 32), ("kommunale-tjenester", 1, 32)]
        results["one_tenant_million"] = {
            "small": query_matrix(
                server, dataset, tokens, scale=scale, label="10k", points=points, tenants=[small]
            ),
            "large": query_matrix(
                server, dataset, tokens, scale=scale, label="1m", points=points, tenants=[large]
            ),
            "people": sizes,
        }


def phase_soak(scale: Scale, results: dict[str, Any], *, minutes: int) -> None:
    """Mixed traffic at half the measured capacity for ``minutes`` (bench/soak.py), on a
    dataset of its own shaped as the query phase's (its ingest grows it)."""
    main_stack = stack.Stack(
        "soak", WORK / f"{scale.name}-soak", stack.database_name(f"{scale.name}_soak")
    )
    tenants = {data.kommunenummer(0): scale.people, data.kommunenummer(1): scale.people}
    dataset = Dataset(main_stack, tenants, ingest_tenant=data.kommunenummer(3))
    port = PORTS["soak"]
    ensure_dataset(dataset, port=port, workers=2, results=results, key="load_soak")
    large = [data.kommunenummer(0), data.kommunenummer(1)]
    server = stack.journalloft_server(main_stack, port=port, workers=2, log=WORK / "soak.log")
    with stack.running(server):
        log(f"soak: {minutes} minutes of mixed traffic, PostgreSQL + Redis, 2 workers")
        results["soak"] = soak.run(
            server,
            tenants=large,
            ingest_tenant=dataset.ingest_tenant or large[0],
            people={knr: dataset.people(knr) for knr in large},
            keys=main_stack.private_keys(),
            minutes=minutes,
            log=log,
        )


def phase_sqlite(scale: Scale, results: dict[str, Any]) -> None:
    sqlite_stack = stack.Stack("sqlite", WORK / f"{scale.name}-sqlite", None)
    tenants = {
        data.kommunenummer(0): scale.sqlite_people,
        data.kommunenummer(1): scale.sqlite_people,
    }
    dataset = Dataset(sqlite_stack, tenants)
    port = PORTS["sqlite"]
    ensure_dataset(dataset, port=port, workers=1, results=results, key="load_sqlite")
    server = stack.journalloft_server(sqlite_stack, port=port, workers=1, log=WORK / "sqlite.log")
    with stack.running(server):
        keys = sqlite_stack.private_keys()
        tokens = stack.get_tokens(server.base, keys, [f"bench-{knr}-legevakt" for knr in tenants])
        log("embedded default (SQLite, 1 process): queries")
        warm_up(server.base, query_requests(dataset, "news2", 1, tokens, count=500))
        points = [
            ("news2", 1, 1),
            ("news2", 1, 32),
            ("news2", 50, 32),
            ("kommunale-tjenester", 1, 1),
            ("kommunale-tjenester", 1, 32),
            ("kommunale-tjenester", 50, 32),
        ]
        results["sqlite"] = query_matrix(
            server, dataset, tokens, scale=scale, label="sqlite", points=points
        )
        results["memory_sqlite"] = server.peak_rss_mib()
    results["dataset_sqlite"] = {"tenants": 2, "people_per_tenant": scale.sqlite_people}


# -- the run ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = ""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if pg:
        pg += f", shared_buffers {stack.shared_buffers()}"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {memory}",
        "commit": commit + (" (src modified)" if dirty else ""),
        **(
            {"server_src": str(stack.SERVER_SRC)}
            if stack.SERVER_SRC.resolve() != (ROOT / "src").resolve()
            else {}
        ),
        "python": platform.python_version(),
        "postgresql": pg or "?",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (~2 minutes)")
    parser.add_argument(
        "--phases",
        default="postgres,ceilings,many,million,sqlite,live",
        help="comma-separated subset of postgres,ceilings,many,million,sqlite,live,soak "
        "(default: all but soak)",
    )
    parser.add_argument(
        "--minutes", type=int, default=10, help="minutes of the soak phase (default 10)"
    )
    parser.add_argument("--people", type=int, help="people per tenant (default 100000, quick 2000)")
    parser.add_argument("--seconds", type=float, help="seconds per load point")
    parser.add_argument(
        "--idle-seconds", type=float, help="seconds of the idle points (default 60, quick 5)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="run the phases for REV (A) and this checkout (B) alternately, print B/A "
        "(bench/compare.py)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of --compare, each A and B once (min 2)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.compare:
        from bench import compare

        forwarded = [
            *(["--quick"] if args.quick else []),
            "--phases",
            args.phases,
            *(["--minutes", str(args.minutes)] if "soak" in args.phases.split(",") else []),
            *(["--people", str(args.people)] if args.people else []),
            *(["--seconds", str(args.seconds)] if args.seconds else []),
            *(["--idle-seconds", str(args.idle_seconds)] if args.idle_seconds else []),
        ]
        return compare.run_compare(
            args.compare, forwarded, rounds=args.rounds, work=WORK, write=not args.no_write
        )
    scale = QUICK if args.quick else FULL
    if args.people:
        scale = Scale(**{**scale.__dict__, "people": args.people})
    if args.seconds:
        scale = Scale(**{**scale.__dict__, "seconds": args.seconds})
    if args.idle_seconds:
        scale = Scale(**{**scale.__dict__, "idle_seconds": args.idle_seconds})
    phases = set(args.phases.split(","))
    missing = []
    if phases - {"live"}:  # the live phase is driven from Python; the others by wrk and pgbench
        missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
        if ceilings.pgbench_binary() is None:
            missing.append("pgbench")
    if missing:
        print(f"bench needs {', '.join(missing)} (apt-get install wrk postgresql-client)")
        return 2
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stack.stop_all)
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    results: dict[str, Any] = {"scale": scale.__dict__, "machine": info}
    log(f"bench {scale.name}: {info}")
    started = time.monotonic()
    dataset = None
    if phases & {"postgres", "ceilings"}:
        dataset = phase_postgres(scale, results)
    if "ceilings" in phases and dataset is not None:
        phase_ceilings(scale, dataset, results)
    if "many" in phases:
        phase_many_tenants(scale, results)
    if "million" in phases:
        phase_million(scale, results)
    if "sqlite" in phases:
        phase_sqlite(scale, results)
    if "live" in phases:
        redis_url = os.environ.get("BENCH_REDIS_URL", stack.REDIS_URL)
        live.phase_live(args.quick, WORK, redis_url, results)
    if "soak" in phases:
        phase_soak(scale, results, minutes=args.minutes)
    results["seconds"] = round(time.monotonic() - started)
    (WORK / f"results-{scale.name}.json").write_text(json.dumps(results, indent=1), "utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), "utf-8")
    text = render(results)
    print()
    print(text)
    if not args.no_write:
        write_results(ROOT / "bench" / "RESULTS.md", text)
        print(f"appended to {ROOT / 'bench' / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
