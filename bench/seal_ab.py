"""What audit sealing costs lookups (``python -m bench.seal_ab``): an A/B of req/s and CPU.

``journalloft serve --workers 2`` on PostgreSQL + Redis with sealing off
(``JOURNALLOFT_AUDIT_SEAL_INTERVAL_SECONDS=0``) and on (every ``--interval`` seconds; 1 by
default, sixty times the default interval: the worst case), alternating, the same news2
1-patient lookups with wrk at concurrency 32. Every lookup writes an audit event, so with sealing
on the sealer chains the new events while the lookups run.

A fresh database with a unique name (dropped afterwards); Redis from ``BENCH_REDIS_URL`` (the
bench's database 7 by default). Figures, not a test.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg

from bench import cpu, data, load, stack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


OFF, ON = "off", "on"


@dataclass(frozen=True, slots=True)
class Point:
    load: load.LoadResult
    cpu_ms: float
    """CPU milliseconds a request of the server's processes (its workers, their sealers)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=int, default=1, help="seconds between seals when on")
    args = parser.parse_args()
    database = f"journalloft_seal_ab_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        dataset = stack.Stack("seal-ab", work / "var", database)
        dataset.reset()
        try:
            sealing = {OFF: "0", ON: str(args.interval)}
            results = run(dataset, work, args.people, args.seconds, args.rounds, sealing)
        finally:
            with psycopg.connect(stack.PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(
        f"news2, 1 patient, c=32, {args.seconds:g} s a point, {args.rounds} rounds alternating; "
        f"2 workers; {args.people:,} people; sealing on = every {args.interval} s"
    )
    print(
        "| sealing | req/s per round | median req/s | median p99 ms "
        "| app CPU ms/req per round | median app CPU ms/req |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for name, points in results.items():
        rates = [p.load.rps for p in points]
        spent = [p.cpu_ms for p in points]
        print(
            f"| {name} | {', '.join(f'{r:,.0f}' for r in rates)} | "
            f"{statistics.median(rates):,.0f} | "
            f"{statistics.median(p.load.p99_ms for p in points):.1f} | "
            f"{', '.join(f'{c:.2f}' for c in spent)} | {statistics.median(spent):.2f} |"
        )
    off = statistics.median(p.cpu_ms for p in results[OFF])
    on = statistics.median(p.cpu_ms for p in results[ON])
    print(
        f"CPU a request, sealing on / off: {on / off:.1%}; the requests/s the same CPU serves: "
        f"{off / on:.1%} of those without sealing"
    )


def run(
    dataset: stack.Stack,
    work: Path,
    people: int,
    seconds: float,
    rounds: int,
    sealing: dict[str, str],
) -> dict[str, list[Point]]:
    knr = data.kommunenummer(0)
    port = free_port()
    dataset.onboard([data.tenant_document(0)], port)
    who = data.people(people, seed="seal-ab")
    now = datetime.now(UTC)
    results: dict[str, list[Point]] = {name: [] for name in sealing}
    for round_ in range(rounds):
        for name, interval in sealing.items():
            port = free_port()
            server = stack.Server(
                f"journalloft (sealing {name})",
                [str(stack.BIN / "journalloft"), "serve", "--port", str(port), "--workers", "2"],
                env={**dataset.env(port), "JOURNALLOFT_AUDIT_SEAL_INTERVAL_SECONDS": interval},
                port=port,
                log=work / "server.log",
                database=dataset.database,
            )
            with server:
                keys = dataset.private_keys()
                tokens = stack.get_tokens(
                    server.base, keys, [f"bench-{knr}-epj", f"bench-{knr}-legevakt"]
                )
                if round_ == 0 and name == "off":
                    batches = (
                        (knr, service, tokens[f"bench-{knr}-epj"], records)
                        for service, records in data.batches(
                            who, now=now, seed="seal-ab", tag="ab", shape="lean"
                        )
                    )
                    load.push(server.base, batches, concurrency=4)
                rng = random.Random(round_)
                requests = [
                    load.Request(
                        "POST",
                        "/v1/news2/query",
                        orjson.dumps({"patients": [rng.choice(who)]}),
                        tokens[f"bench-{knr}-legevakt"],
                    )
                    for _ in range(500)
                ]
                pids = server.workers()
                backends = cpu.postgres_backends(dataset.database)
                before = cpu.snapshot(pids, backends)
                result = load.wrk(
                    server.base,
                    requests,
                    connections=32,
                    seconds=seconds,
                    workdir=work,
                    name="seal-ab",
                )
                used = cpu.per_request_ms(before, cpu.snapshot(pids, backends), result.requests)
                # the server's own processes only: the sealer's work is Python in them, and
                # PostgreSQL backends that come and go during a point make its share unreliable
                results[name].append(Point(result, used["app"]))
    return results


if __name__ == "__main__":
    main()
