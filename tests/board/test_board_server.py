"""The reference board's server without a browser: which requests it takes (its own Host, JSON
bodies) and which subscriptions of its client it touches (only those it made)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from journalloft.app import board_parts
from journalloft.board.app import MAX_BODY_BYTES, create_board_app
from support import SERVICES, people, tenant_document
from support.browser import Served
from support.live import served_platform
from support.platform import Backend, TestPlatform

ANNE, BJORN, CECILIE = people(3, seed="board-server")
LEGEVAKT = "bodo-legevakt"


def board_client(platform: TestPlatform) -> dict[str, Any]:
    return {
        "client_id": LEGEVAKT,
        "private_jwk": platform.key(LEGEVAKT).as_dict(private=True),
        "scopes": ["news2:read", "kommunale-tjenester:read"],
    }


@pytest.fixture
def api(backend: Backend, tmp_path: Path) -> Iterator[TestPlatform]:
    with served_platform(backend, tmp_path, heartbeat_seconds=1) as platform:
        for kommunenummer in ("1804", "3201"):
            platform.onboard(tenant_document(kommunenummer, services={s: {} for s in SERVICES}))
        yield platform


def serve_board(api: TestPlatform, name: str = "board", port: int | None = None) -> Served:
    app = create_board_app(
        str(api.client.base_url), board_client(api), parts=board_parts(), name=name
    )
    return Served(app, port=port)


def post(board: Served, path: str, body: bytes, *, host: str | None = None) -> httpx.Response:
    """A POST as the board's page sends it: JSON, with the page's Origin (``host``'s)."""
    host = host or f"127.0.0.1:{board.port}"
    headers = {"Host": host, "Origin": f"http://{host}", "Content-Type": "application/json"}
    return httpx.post(board.url + path, content=body, headers=headers, timeout=10)


def subscriptions(api: TestPlatform) -> list[dict[str, Any]]:
    answer = api.client.get("/v1/news2/subscriptions", headers=api.headers(LEGEVAKT))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["subscriptions"]
    return found


def test_a_request_naming_another_host_is_refused_dns_rebinding(api: TestPlatform) -> None:
    with serve_board(api) as board:
        rebound = f"evil.example:{board.port}"
        # a page of evil.example whose name now points at the board: same origin as its Host
        added = post(board, "/patients", f'{{"patient": "{ANNE}"}}'.encode(), host=rebound)
        assert added.status_code == 400
        read = httpx.get(board.url + "/board", headers={"Host": rebound}, timeout=10)
        assert read.status_code == 400
        assert ANNE[-4:] not in read.text
        events = httpx.get(board.url + "/events", headers={"Host": rebound}, timeout=10)
        assert events.status_code == 400
        assert subscriptions(api) == []  # nothing reached the API
        # its own names are served
        for own in (f"127.0.0.1:{board.port}", f"localhost:{board.port}"):
            assert httpx.get(board.url + "/board", headers={"Host": own}).status_code == 200
        added = post(board, "/patients", f'{{"patient": "{ANNE}"}}'.encode())
        assert added.status_code == 201, added.text
        [made] = subscriptions(api)
        assert made["patients"] == [ANNE]


def test_the_allowed_hosts_are_configurable(api: TestPlatform) -> None:
    app = create_board_app(
        str(api.client.base_url),
        board_client(api),
        parts=board_parts(),
        allowed_hosts=["tavle.legevakt.example"],
    )
    with Served(app) as board:
        assert httpx.get(board.url + "/board").status_code == 400  # 127.0.0.1 is not named
        named = httpx.get(board.url + "/board", headers={"Host": "tavle.legevakt.example"})
        assert named.status_code == 200


@pytest.mark.parametrize("path", ["/patients", "/patients/remove"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"not json", 400),
        (b'{"patient": "1", "patient": "2"}', 400),
        (b"", 400),
        (b'{"patient": "' + b"1" * MAX_BODY_BYTES + b'"}', 413),
    ],
)
def test_a_body_that_is_not_json_is_a_4xx_problem(
    api: TestPlatform, path: str, body: bytes, status: int
) -> None:
    with serve_board(api) as board:
        answer = post(board, path, body)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status
        # the board still serves
        assert httpx.get(board.url + "/board").status_code == 200


def test_a_board_touches_only_the_subscriptions_it_made(api: TestPlatform) -> None:
    """Two boards on one client, and another system using the same client id: each board adopts
    and changes only its own subscriptions, on start and restart."""
    other = api.client.post(
        "/v1/news2/subscriptions", json={"patients": [CECILIE]}, headers=api.headers(LEGEVAKT)
    )
    assert other.status_code == 201, other.text
    with serve_board(api, name="rom-1") as first:
        assert post(first, "/patients", f'{{"patient": "{ANNE}"}}'.encode()).status_code == 201
        port = first.port
        with serve_board(api, name="rom-2") as second:
            added = post(second, "/patients", f'{{"patient": "{BJORN}"}}'.encode())
            assert added.status_code == 201
            by_label = {s.get("label"): s["patients"] for s in subscriptions(api)}
            assert by_label == {None: [CECILIE], "board:rom-1": [ANNE], "board:rom-2": [BJORN]}
            first.__exit__(None, None, None)  # the first board restarts
            with serve_board(api, name="rom-1", port=port) as again:
                shown = httpx.get(again.url + "/board").json()["patients"]
                assert [row["masked"][-4:] for row in shown] == [ANNE[-4:]]
                shown = httpx.get(second.url + "/board").json()["patients"]
                assert [row["masked"][-4:] for row in shown] == [BJORN[-4:]]
                by_label = {s.get("label"): s["patients"] for s in subscriptions(api)}
                assert by_label == {
                    None: [CECILIE],
                    "board:rom-1": [ANNE],
                    "board:rom-2": [BJORN],
                }
                # removing its last patient ends its own subscription, no other
                key = httpx.get(again.url + "/board").json()["patients"][0]["key"]
                removed = post(again, "/patients/remove", f'{{"key": "{key}"}}'.encode())
                assert removed.status_code == 204
                labels = sorted(str(s.get("label")) for s in subscriptions(api))
                assert labels == ["None", "board:rom-2"]
