"""CPU time per request, by process group: the app, PostgreSQL, Redis, the load generator, and
whatever else ran on the machine meanwhile (other sessions' work shows up as "other")."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# -- every process of the stack ------------------------------------------------------------------


def postgres_processes(database: str) -> list[int]:
    """Every PostgreSQL process that works for this database: its backends, the cluster's
    background processes (checkpointer, background writer, WAL writer, autovacuum launcher: they
    have no database) and the postmaster. On a cluster shared with other work the background
    processes' CPU includes that work's share."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND (datname = %s OR datname IS NULL)",
            (database,),
        ).fetchall()
    pids = [int(pid) for (pid,) in rows]
    parents = {_parent(pid) for pid in pids} - {0, 1}
    return pids + sorted(parents - set(pids))


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return 0


@dataclass
class Ticks:
    """CPU ticks by process of each group at one moment, and the machine's busy ticks."""

    groups: dict[str, dict[int, int]]
    machine: int
    at: float


class Stack:
    """CPU of every process of the stack under test: the app's process tree, every PostgreSQL
    process of its database (backends listed anew at each reading, so that a connection opened
    meanwhile counts), and Redis. A process that started between two readings counts from its
    start; one that ended meanwhile is lost (the app's pools keep their connections)."""

    def __init__(self, app_pids: Any, database: str | None) -> None:
        self.app_pids = app_pids  # a callable: the app's process tree now
        self.database = database

    def read(self) -> Ticks:
        postgres = postgres_processes(self.database) if self.database else []
        groups = {
            "app": {p: _ticks(p) for p in self.app_pids()},
            "postgres": {p: _ticks(p) for p in postgres},
            "redis": {p: _ticks(p) for p in _named(("redis-server",))},
        }
        return Ticks(groups, _machine_busy(), time.monotonic())


def spent_ms(before: Ticks, after: Ticks) -> dict[str, float]:
    """CPU milliseconds of each group between two readings, and "other": the machine's busy time
    meanwhile that was none of them (other work, the load generator, the kernel)."""
    ms = 1000 / TICK
    out = {}
    for name, now in after.groups.items():
        then = before.groups.get(name, {})
        out[name] = sum(max(0, t - then.get(pid, 0)) for pid, t in now.items()) * ms
    total = (after.machine - before.machine) * ms
    out["other"] = max(0.0, total - sum(out.values()))
    return out


def per_unit(spent: dict[str, float], units: float) -> dict[str, float]:
    """Each group's milliseconds per unit (request, second), and their ``total`` (app +
    PostgreSQL + Redis, not "other")."""
    if units <= 0:
        return {}
    out = {name: round(value / units, 3) for name, value in spent.items()}
    out["total"] = round((spent["app"] + spent["postgres"] + spent["redis"]) / units, 3)
    return out


def memory_mib(pids: list[int]) -> dict[str, float]:
    """Private, PSS and RSS MiB summed over these processes, and how many: PSS counts each
    shared page (shared buffers, the binary) by the share of it each process maps."""
    kib = {"private": 0, "pss": 0, "rss": 0}
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    kib["private"] += int(line.split()[1])
                elif line.startswith("Pss:"):
                    kib["pss"] += int(line.split()[1])
                elif line.startswith("Rss:"):
                    kib["rss"] += int(line.split()[1])
    return {**{k: round(v / 1024, 1) for k, v in kib.items()}, "count": len(pids)}
