"""Event streams in tests: the app served by uvicorn on a loopback port (an event stream needs a
real server: the in-process test client waits for a response's end), and a reader of
``text/event-stream``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from journalloft.app import create_app
from journalloft.platform.runtime import build_runtime
from journalloft.platform.storage.migrations import migrate_platform
from support import free_port
from support.platform import Backend, TestPlatform, make_settings


@contextmanager
def served_platform(backend: Backend, tmp: Path, **settings: Any) -> Iterator[TestPlatform]:
    """The platform served on 127.0.0.1 by uvicorn in a thread; its client speaks HTTP to it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = make_settings(backend, tmp / "var", public_url=base, **settings)
    runtime = build_runtime(config)
    migrate_platform(runtime.stores)
    app = create_app(config, runtime=runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.02)
    try:
        with httpx2.Client(base_url=base, timeout=10) as client:
            yield TestPlatform(client=client, runtime=runtime, tmp=tmp)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        runtime.close()


@dataclass
class Event:
    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventReader:
    """Reads events from an open ``text/event-stream`` response, one at a time."""

    response: httpx2.Response
    comments: int = 0
    _lines: Iterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()

    def next(self) -> Event | None:
        """The next event; None when the stream ends."""
        name, event_id, data = "message", None, list[str]()
        for line in self._lines:
            if line == "":
                if data or event_id is not None:
                    return Event(name, event_id, "\n".join(data))
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "id":
                event_id = value
            elif key == "data":
                data.append(value)
        return None

    def take(self, n: int) -> list[Event]:
        found: list[Event] = []
        while len(found) < n:
            event = self.next()
            assert event is not None, f"the stream ended after {found}"
            found.append(event)
        return found


@contextmanager
def open_events(
    client: httpx2.Client,
    subscription_id: str,
    headers: dict[str, str],
    *,
    last_event_id: str | None = None,
    timeout: float = 10,
) -> Iterator[EventReader]:
    extra = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    with client.stream(
        "GET",
        f"/v1/subscriptions/{subscription_id}/events",
        headers={**headers, **extra, "Accept": "text/event-stream"},
        timeout=httpx2.Timeout(timeout),
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventReader(response)
