"""Concurrent pushes of the same records: nothing is lost, and the newest ``updated`` wins."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from support import people
from support.platform import TestPlatform

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
(PATIENT,) = people(1, seed="concurrency")


def version(minute: int) -> dict[str, Any]:
    at = (NOW - timedelta(minutes=60 - minute)).isoformat()
    return {
        "id": "same-record",
        "patient": PATIENT,
        "updated": at,
        "effective": (NOW - timedelta(hours=2)).isoformat(),
        "spo2_scale": 1,
        "pulse": 40 + minute,
    }


def test_concurrent_versions_of_one_record_end_with_the_newest(platform: TestPlatform) -> None:
    platform.set_now(NOW)
    headers = platform.headers("bodo-epj")
    minutes = list(range(1, 25))
    replies: list[int] = []
    counts: list[dict[str, int]] = []
    start = threading.Barrier(len(minutes))

    def push(minute: int) -> None:
        start.wait()
        response = platform.client.post(
            "/v1/tenants/1804/news2/records", json={"records": [version(minute)]}, headers=headers
        )
        replies.append(response.status_code)
        counts.append(response.json())

    threads = [threading.Thread(target=push, args=(m,)) for m in reversed(minutes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert replies == [200] * len(minutes)
    assert sum(c["created"] for c in counts) == 1
    assert sum(c["created"] + c["updated"] + c["stale"] for c in counts) == len(minutes)
    board = platform.client.post(
        "/v1/news2/query", json={"patients": [PATIENT]}, headers=platform.headers("bodo-legevakt")
    ).json()
    assert board["results"][0]["latest"]["pulse"] == 40 + max(minutes)
