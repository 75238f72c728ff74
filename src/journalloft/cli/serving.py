"""``journalloft serve``: the API under uvicorn, logging as the platform logs."""

from __future__ import annotations

import argparse
import os

from journalloft.cli.common import open_runtime
from journalloft.platform.core.settings import get_settings
from journalloft.platform.observability.metrics import MULTIPROC_ENV, reset_directory

WORKER_HEALTHCHECK_SECONDS = 60


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    # The address served is the address the platform names (its issuer, its token endpoint, the
    # DPoP htu it expects) unless JOURNALLOFT_PUBLIC_URL says otherwise: the worker processes
    # read their settings from the environment, so the flags go there.
    if args.host:
        os.environ["JOURNALLOFT_HOST"] = args.host
    if args.port:
        os.environ["JOURNALLOFT_PORT"] = str(args.port)
    if os.environ.get("LOG_FORMAT") and not os.environ.get("JOURNALLOFT_LOG_FORMAT"):
        os.environ["JOURNALLOFT_LOG_FORMAT"] = os.environ["LOG_FORMAT"]
    get_settings.cache_clear()
    settings = get_settings()
    if args.workers > 1 and settings.redis_url is None:
        # each worker would keep its own replay cache, rate counts, subscriptions and change
        # feed: a proof replayable against the other worker, a board that finds no subscription
        # or no change when its request reaches the other one
        raise SystemExit(
            "journalloft serve: --workers above 1 needs JOURNALLOFT_REDIS_URL (the workers share "
            "DPoP replay caches, rate counts, subscriptions and live changes through Redis)"
        )
    runtime = open_runtime()
    runtime.close()
    if args.workers > 1:
        # Each worker counts in its own files here and a scrape adds them up (metrics.py). The
        # workers are new processes: they read the variable when they import prometheus_client.
        directory = os.environ.get(MULTIPROC_ENV) or str(settings.data_path / "metrics")
        reset_directory(directory)
        os.environ[MULTIPROC_ENV] = directory
    uvicorn.run(
        "journalloft.app:serving_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        # uvicorn kills a worker that does not answer its health check within 5 s by default; a
        # worker importing the platform on a busy machine can take longer than that to start,
        # and was then killed and restarted in a loop (seen with 2 workers on a loaded 2-core VM)
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        # after the app's own drain (http/lifecycle.py): what is still open then is cut
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
    )


def logging_config(level: str, log_format: str = "text") -> dict[str, object]:
    """One line per event on stderr, readable text or (``json``) one JSON object a line; the
    platform's own access log replaces uvicorn's, and no traceback prints an exception's message
    (:class:`~journalloft.platform.observability.logs.SafeFormatter`, its subclass
    ``JsonFormatter``)."""
    formatter: dict[str, str] = {
        "()": "journalloft.platform.observability.logs.SafeFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
    }
    if log_format == "json":
        formatter = {"()": "journalloft.platform.observability.logs.JsonFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "loggers": {
            "journalloft": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
