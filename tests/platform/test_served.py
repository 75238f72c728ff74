"""``journalloft serve --workers 2`` as an operator runs it (with Redis, which several workers
need): JSON logs and ``/metrics`` that add up every worker's counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.servers import RedisServer, ServedPlatform, own_redis, served


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from own_redis()


def test_two_workers_log_json_and_metrics_count_every_worker(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    platform = ServedPlatform(
        tmp_path, redis_url=redis_server.url, workers=2, settings={"LOG_FORMAT": "json"}
    )
    with served(platform) as running:
        legevakt = running.headers("bodo-legevakt")
        admin = running.headers("journalloft-admin", scope="metrics:read")
        asked = 40
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for _ in range(asked):
                answer = client.post(
                    "/v1/news2/query",
                    json={"patients": ["13863319336"], "kommuner": ["1804"]},
                    headers=legevakt,
                )
                assert answer.status_code in (200, 422), answer.text
            scraped = client.get("/metrics", headers=admin)
            refused = client.get("/metrics", headers=legevakt)
        assert scraped.status_code == 200, scraped.text
        assert refused.status_code == 403
        requests: dict[str, float] = {}
        gauges = set()
        for family in text_string_to_metric_families(scraped.text):
            for sample in family.samples:
                if sample.name == "journalloft_http_requests_total":
                    route = sample.labels["route"]
                    requests[route] = requests.get(route, 0) + sample.value
                if sample.name == "journalloft_db_pool_in_use":
                    gauges.add(sample.labels["server"])
        # each worker counts in its own files; however the requests were spread over the
        # workers, the scrape adds them all up
        counting = {p.name.rsplit("_", 1)[1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(counting) == 2, counting
        assert requests["/v1/news2/query"] == asked
        assert gauges == {"sqlite"}
    lines = [line for line in platform.log_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "journalloft.access"]
    assert len([e for e in access if e["route"] == "/v1/news2/query"]) == asked
    assert {"time", "level", "event", "correlation_id", "route", "status", "duration_ms"} <= set(
        access[0]
    )
    assert all("13863319336" not in line for line in lines)
