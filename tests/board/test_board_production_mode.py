"""The reference board against the platform in its production-like mode (issue 27): ``journalloft
serve --workers 2`` on PostgreSQL and Redis. A measurement pushed through the API, to whichever
worker takes it, reaches the board, which follows its subscription's stream on one of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from journalloft.app import board_parts
from journalloft.board.app import create_board_app
from support import measurement, people
from support.browser import Served
from support.platform import Backend, provide_backend
from support.servers import ServedPlatform, served, wait_for

(PERSON,) = people(1, seed="board-production-mode")


@pytest.fixture
def postgres_backend() -> Iterator[Backend]:
    yield from provide_backend("postgresql")


def vitals(record_id: str, *, ago_minutes: int, **fields: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=ago_minutes)).isoformat()
    return measurement(record_id, PERSON, at=at, **fields)


def shown_score(board: Served) -> str | None:
    """The NEWS2 score the board's state shows for its one patient, if any."""
    view = httpx.get(f"{board.url}/board", timeout=10).json()
    [row] = view["patients"]
    cell = row["cells"].get("news2")
    return None if cell is None else str(cell["items"][0]["text"])


def showing(board: Served, expected: str) -> Callable[[], bool]:
    return lambda: shown_score(board) == expected


@pytest.mark.postgres
@pytest.mark.redis
def test_a_pushed_score_reaches_the_board_across_workers(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    platform = ServedPlatform(
        tmp_path,
        database_url=postgres_backend.database_url,
        redis_url=postgres_backend.redis_url,
        workers=2,
    )
    with served(platform) as running:
        clients = json.loads((tmp_path / "demo-clients.json").read_text("utf-8"))
        [legevakt] = [c for c in clients if c["client_id"] == "bodo-legevakt"]
        app = create_board_app(running.url, legevakt, parts=board_parts())
        with Served(app) as board:
            added = httpx.post(
                f"{board.url}/patients",
                json={"patient": PERSON},
                headers={"Origin": board.url},
                timeout=30,
            )
            assert added.status_code == 201, added.text
            wait_for(
                "the board follows its NEWS2 subscription",
                lambda: httpx.get(f"{board.url}/board").json()["status"]["news2"] == "connected",
            )
            assert shown_score(board) is None
            # each push on a connection of its own, so the workers share them out
            for record, expected in (
                (
                    vitals("m-1", ago_minutes=3, pulse=135, respiration_rate=26, temperature=38.5),
                    "7",
                ),
                (vitals("m-2", ago_minutes=1, pulse=95), "1"),
            ):
                pushed = httpx.post(
                    f"{running.url}/v1/tenants/1804/news2/records",
                    json={"records": [record]},
                    headers=running.headers("bodo-epj"),
                    timeout=30,
                )
                assert pushed.status_code == 200, pushed.text
                wait_for(f"the score {expected} reaches the board", showing(board, expected))
