"""Work on the event loop that grew with what a client sent, bounded (issue 21, item 1): an
OktEvent's services are counted before any is read, and a large JSON body is parsed in a worker
thread (the FHIR search's own limits are in test_fhir_limits)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from journalloft.platform.http import body as body_reader
from journalloft.services.kommunale_tjenester.okt import MAX_MESSAGES
from support import people
from support.platform import TestPlatform

(EVA,) = people(1, seed="faces-bounds")


def okt_event(services: int) -> dict[str, Any]:
    message = {
        "iplosCode": {"iplosCodeValue": "02"},
        "startDate": "2025-09-01",
        "temporaryCessation": False,
    }
    messages = [{**message, "serviceDescription": f"tjeneste {i}"} for i in range(services)]
    return {"personIdentifier": EVA, "oktMessages": messages}


def test_an_okt_event_lists_at_most_its_services(platform: TestPlatform) -> None:
    headers = platform.headers("bodo-epj")
    over = platform.client.post(
        "/okt/okt-events", json=okt_event(MAX_MESSAGES + 1), headers=headers
    )
    assert over.status_code == 422, over.text
    [error] = over.json()["errors"]
    assert error["pointer"] == "/oktMessages"
    assert f"at most {MAX_MESSAGES}" in str(error)
    at_limit = platform.client.post(
        "/okt/okt-events", json=okt_event(MAX_MESSAGES), headers=headers
    )
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["created"] == MAX_MESSAGES


def test_a_large_body_is_parsed_off_the_event_loop(
    platform: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 64 KiB on the loop; beyond it in a worker thread (no running loop there)."""
    parsed_on_loop: list[bool] = []
    parse = body_reader.parse_json

    def recording(content: bytes) -> Any:
        try:
            asyncio.get_running_loop()
            parsed_on_loop.append(True)
        except RuntimeError:
            parsed_on_loop.append(False)
        return parse(content)

    monkeypatch.setattr(body_reader, "parse_json", recording)
    headers = {**platform.headers("bodo-legevakt"), "Content-Type": "application/json"}
    for size in (body_reader.PARSED_ON_THE_LOOP, body_reader.PARSED_ON_THE_LOOP + 1):
        start = json.dumps({"patients": [EVA], "kommuner": ["1804"], "x": ""})[:-2]
        content = (start + "a" * (size - len(start) - 2) + '"}').encode()
        assert len(content) == size
        answer = platform.client.post("/v1/news2/query", content=content, headers=headers)
        assert answer.status_code == 422, answer.text  # x is not a query field
    assert parsed_on_loop == [True, False]
