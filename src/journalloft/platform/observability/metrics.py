"""The platform's metrics, in Prometheus' format (``GET /metrics``).

Every metric is defined once here and counted where the thing happens. With several uvicorn
workers each process counts in its own files under ``PROMETHEUS_MULTIPROC_DIR`` (which
``journalloft serve`` sets up) and :func:`render` adds them up, so a scrape that lands on any
worker sees the whole server. Without that variable (tests, one process) the process's own
registry is rendered.

Labels are never a person id nor any string a client chose: ``route`` is the route template
(or ``(no route)``), ``kommunenummer`` a validated, onboarded municipality, ``service`` a
registered service's name, ``reason`` one of the platform's own error codes, ``server`` the
host and port of a database server (never its user or password).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import values as _values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "journalloft_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "journalloft_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
RECORDS = Counter(
    "journalloft_records",
    "Records in acknowledged ingest batches, by what storing them did "
    "(created, updated, unchanged, stale)",
    ["service", "kommunenummer", "outcome"],
)
INGEST_BATCHES = Counter(
    "journalloft_ingest_batches",
    "Ingest batches committed",
    ["service", "kommunenummer"],
)
LOOKUPS = Counter(
    "journalloft_lookups",
    "Lookups answered by a municipality's store",
    ["service", "kommunenummer"],
)
PATIENTS_LOOKED_UP = Counter(
    "journalloft_patients_looked_up",
    "People asked for in lookups answered by a municipality's store",
    ["service", "kommunenummer"],
)
AUDIT_EVENTS = Counter(
    "journalloft_audit_events_written",
    "Audit events committed, by action",
    ["action"],
)
AUDIT_WRITE_FAILURES = Counter(
    "journalloft_audit_write_failures",
    "Group commits of audit events that failed (their requests were answered with an error, "
    "and no data left)",
)
AUDIT_GROUP_SIZE = Histogram(
    "journalloft_audit_group_commit_size",
    "Requests whose audit events went in one group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
RATE_LIMITED = Counter(
    "journalloft_rate_limit_refusals",
    "Requests refused by a municipality's rate limit",
    ["kommunenummer"],
)
AUTH_REFUSALS = Counter(
    "journalloft_auth_refusals",
    "Requests refused for their token or DPoP proof (401), by the error code of the challenge",
    ["reason"],
)
DB_POOL_IN_USE = Gauge(
    "journalloft_db_pool_in_use",
    "Database connections checked out, per server and pool (transactions or query path)",
    ["server", "pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "journalloft_db_pool_waiting",
    "Requests waiting for a query-path connection, per server",
    ["server", "pool"],
    multiprocess_mode="livesum",
)
REDIS_ERRORS = Counter(
    "journalloft_redis_errors",
    "Redis commands that failed, by what they were for",
    ["use"],
)
OVERLOADED = Counter(
    "journalloft_overloaded",
    "Requests refused with 503 because a pool of this process was busy for its whole wait "
    "(back-pressure from a burst of requests, not a fault of what the pool reaches)",
    ["pool"],
)
OPEN_SUBSCRIPTIONS = Gauge(
    "journalloft_open_subscriptions",
    "Subscriptions (open event streams) now held, by service; set by the subscription feature",
    ["service"],
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    """The directory the workers count in, if this process counts there."""
    directory = os.environ.get(MULTIPROC_ENV) or None
    return directory if _values.ValueClass is not _values.MutexValue else None


def render() -> bytes:
    """The text a scrape gets: every worker's metrics when there are several."""
    directory = multiprocess_dir()
    if directory is None:
        from prometheus_client import REGISTRY

        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay counted)."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def reset_directory(directory: str) -> None:
    """Empty the multiprocess directory before the workers start: files of an earlier run would
    be added to this one's."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def server_label(url: str) -> str:
    """A database server as a label: host and port, without user, password or database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def sample_pools(
    transactions: Iterable[tuple[str, int]], query_path: Iterable[tuple[str, int, int]]
) -> None:
    """Set the pool gauges from what the pools say now."""
    for server, in_use in transactions:
        DB_POOL_IN_USE.labels(server, "transactions").set(in_use)
    for server, in_use, waiting in query_path:
        DB_POOL_IN_USE.labels(server, "query").set(in_use)
        DB_POOL_WAITING.labels(server, "query").set(waiting)


def count_ingest(service: str, kommunenummer: str, counts: Iterable[tuple[str, int]]) -> None:
    INGEST_BATCHES.labels(service, kommunenummer).inc()
    for outcome, n in counts:
        if n:
            RECORDS.labels(service, kommunenummer, outcome).inc(n)
