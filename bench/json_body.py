"""What the body reader's checks cost: ``python -m bench.json_body`` parses a ~1 MB ingest batch
with orjson alone and with :func:`journalloft.platform.http.parse_json`, and times each check.

A figure, never a timed test. The batch is synthetic NEWS2 records for one synthetic person."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from journalloft.platform import http

PERSON = "12913230572"  # a synthetic (Tenor, month + 80) test number


def batch(size: int = 1_000_000) -> bytes:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    records: list[dict[str, Any]] = []
    while len(json.dumps({"records": records}, ensure_ascii=False)) < size:
        at = (now - timedelta(minutes=len(records))).isoformat()
        records.append(
            {
                "id": f"m-{len(records)}",
                "patient": PERSON,
                "updated": at,
                "effective": at,
                "respiration_rate": 18,
                "spo2": 97,
                "spo2_scale": 1,
                "supplemental_oxygen": False,
                "systolic_bp": 120,
                "pulse": 80,
                "consciousness": "A",
                "temperature": 37.0,
                "recorded_by": {"name": "Kari Nordmann", "hpr": "1234567"},
                "location": "Hjemmesykepleien sone sør",
            }
        )
    return json.dumps({"records": records}, ensure_ascii=False).encode()


def milliseconds(work: Callable[[], object], rounds: int = 200) -> float:
    work()
    started = time.perf_counter()
    for _ in range(rounds):
        work()
    return (time.perf_counter() - started) / rounds * 1000


def main() -> None:
    body = batch()
    value = orjson.loads(body)
    rows = {
        "orjson.loads": milliseconds(lambda: orjson.loads(body)),
        "parse_json (orjson and every check)": milliseconds(lambda: http.parse_json(body)),
        "  depth and member count": milliseconds(lambda: http._members_within_depth(value)),
        "  key count in the raw body": milliseconds(
            lambda: body.translate(http._KEY_END).count(b"\x01:")
        ),
        "  U+0000 search": milliseconds(lambda: b"\\u0000" in body),
        "  second parse (only on a mismatch)": milliseconds(
            lambda: http._refuse_duplicate_keys(body), rounds=20
        ),
    }
    print(f"{len(body):,} bytes, {len(value['records']):,} records")
    for name, ms in rows.items():
        print(f"{name:40} {ms:6.2f} ms")


if __name__ == "__main__":
    main()
