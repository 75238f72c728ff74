"""CPU time per request, by process group: the app, PostgreSQL, Redis, the load generator, and
whatever else ran on the machine meanwhile (other sessions' work shows up as "other")."""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    return 0


def _named(names: tuple[str, ...]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip().startswith(names):
                    found.append(int(entry.name))
    return found


def _machine_busy() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Snapshot:
    app: int
    postgres: int
    redis: int
    load: float
    machine: int


def postgres_backends(database: str | None) -> list[int]:
    """The server processes of one database (the app's pooled connections), or every
    PostgreSQL process when no database is named."""
    if database is None:
        return _named(("postgres",))
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def snapshot(app_pids: list[int], postgres_pids: list[int] | None = None) -> Snapshot:
    postgres = _named(("postgres",)) if postgres_pids is None else postgres_pids
    return Snapshot(
        app=sum(_ticks(p) for p in app_pids),
        postgres=sum(_ticks(p) for p in postgres),
        redis=sum(_ticks(p) for p in _named(("redis-server",))),
        load=_children_seconds(),
        machine=_machine_busy(),
    )


def per_request_ms(before: Snapshot, after: Snapshot, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each group between two snapshots."""
    if requests <= 0:
        return {}
    ms = 1000 / TICK / requests
    app = (after.app - before.app) * ms
    postgres = max(0, after.postgres - before.postgres) * ms
    redis = (after.redis - before.redis) * ms
    load = (after.load - before.load) * 1000 / requests
    total = (after.machine - before.machine) * ms
    return {
        "app": round(app, 3),
        "postgres": round(postgres, 3),
        "redis": round(redis, 3),
        "load": round(load, 3),
        "other": round(max(0.0, total - app - postgres - redis - load), 3),
    }


def private_mib(pids: list[int]) -> tuple[float, int]:
    """(private memory of these processes in MiB, how many): what PostgreSQL backends hold of
    their own (plans, prepared statements, caches), without the shared buffers."""
    kib = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    kib += int(line.split()[1])
    return round(kib / 1024, 1), len(pids)
