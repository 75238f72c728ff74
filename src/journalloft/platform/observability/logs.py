"""Logging that never writes what a client sent.

An exception's message, a SQL statement's bound parameters and a request's path can all carry a
person id or free text about a person's health. The platform's log therefore names an error by
its type and where it happened (file, line, function of each frame), never by its message or its
values; the access log names the route template, not the path; and a client's correlation id is
taken only in a shape that cannot hold a person id (:func:`accept_correlation_id`).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime
from types import TracebackType

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DIGIT_RUN = re.compile(r"[0-9]{6}")

CORRELATION_ID_RULE = (
    "a UUID, or 1 to 64 characters of A-Z a-z 0-9 . _ - with no run of six digits or more"
)


def accept_correlation_id(given: str | None) -> str | None:
    """The client's correlation id if it has a safe shape (:data:`CORRELATION_ID_RULE`), else
    None. A run of six digits could be a person id, a phone number or an organisation number,
    so it is never copied into the log or the audit trail."""
    if not given:
        return None
    if _UUID.fullmatch(given):
        return given.lower()
    if _TOKEN.fullmatch(given) and not _DIGIT_RUN.search(given):
        return given
    return None


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def describe_exception(exc: BaseException) -> str:
    """An exception by type and frames only: ``ValueError at a.py:12 in f < b.py:40 in g``.

    Chained causes are named by type. The message is left out on purpose: it may quote a value a
    client sent (a SQL error quotes its parameters, ``fromisoformat`` quotes its input)."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = " < ".join(
        f"{_short(frame.filename)}:{frame.lineno} in {frame.name}" for frame in reversed(frames)
    )
    text = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if where:
        text += f" at {where}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        text += f" (from {type(cause).__module__}.{type(cause).__qualname__})"
    return text


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return filename.rsplit("/", 2)[-1] if "/" in filename else filename


class SafeFormatter(logging.Formatter):
    """A formatter whose tracebacks are :func:`describe_exception`: type and frames, no message.

    Installed on every handler ``journalloft serve`` configures, so that even a library's
    ``log.exception`` (uvicorn's "Exception in ASGI application") cannot print a value."""

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        exc = ei[1]
        return "" if exc is None else "  " + describe_exception(exc)

    def formatStack(self, stack_info: str) -> str:
        return ""


STRUCTURED_FIELDS = (
    "correlation_id",
    "client",
    "municipality",
    "method",
    "route",
    "status",
    "duration_ms",
)
"""Fields a log call may pass in ``extra`` that the JSON format writes as their own keys. Each is
one the platform chose or checked: a correlation id in a safe shape, an authenticated client id,
an onboarded kommunenummer, a route template."""


class JsonFormatter(SafeFormatter):
    """One JSON object a line: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``event`` (the
    message as the text format writes it), the :data:`STRUCTURED_FIELDS` the call gave, and an
    exception as :func:`describe_exception` names it (never its message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = describe_exception(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def lean_log_records() -> None:
    """Log records without what no line the platform writes shows: the caller's file and line
    (found by walking the stack on every record), the thread's and process's names. The serving
    processes call it: their access log writes a line per request, and this was most of its
    cost. Both formats (:func:`journalloft.cli.serving.logging_config`) use none of them."""
    logging._srcfile = None  # the stdlib's documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
