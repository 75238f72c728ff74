"""``journalloft serve``: the API under uvicorn, logging as the platform logs."""

from __future__ import annotations

import argparse
import os

from journalloft.platform.cli.common import open_runtime
from journalloft.platform.settings import get_settings


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
    get_settings.cache_clear()
    settings = get_settings()
    runtime = open_runtime()
    runtime.close()
    uvicorn.run(
        "journalloft.platform.http.app:serving_app",
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
        log_config=logging_config(settings.log_level),
        access_log=False,
    )


def logging_config(level: str) -> dict[str, object]:
    """One line per event on stderr; the platform's own access log replaces uvicorn's, and no
    traceback prints an exception's message (:class:`~journalloft.platform.logs.SafeFormatter`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {
                "()": "journalloft.platform.logs.SafeFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "loggers": {
            "journalloft": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
