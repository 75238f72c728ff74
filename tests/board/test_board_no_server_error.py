"""No 5xx for anything a client sends the reference board's own server (issue 21, item 6): every
route (the page, its state, its event stream, adding and removing patients, the static files)
with generated methods, bodies (JSON and not), query strings and headers, on SQLite and
PostgreSQL + Redis.

Every generated string may hold a lone surrogate, U+0000 or other digits; query strings, bodies
and headers may hold bytes that are not UTF-8. Most requests name the board's own ``Host`` and
``Origin`` and send JSON, so that they reach the code behind those checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journalloft.app import board_parts
from journalloft.board.app import MAX_BODY_BYTES, create_board_app
from support import SERVICES, people, tenant_document
from support.browser import Served
from support.live import served_platform
from support.platform import Backend, TestPlatform

ANNE, BJORN, *OTHERS = people(6, seed="board-no-server-error")
LEGEVAKT = "bodo-legevakt"
EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
UVICORN_REFUSED = "Invalid HTTP request received."
"""What uvicorn's HTTP parser answers (400, text/plain) for a request it cannot parse: the app
never sees those."""


@pytest.fixture(scope="module")
def board(module_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A board on Bodø's legevakt client, following an API served over HTTP."""
    tmp: Path = tmp_path_factory.mktemp("board-no-5xx")
    with served_platform(module_backend, tmp, heartbeat_seconds=1) as api:
        for kommunenummer in ("1804", "3201"):
            policy = {"rate_limit_per_minute": 1_000_000}
            services: dict[str, Any] = {s: {} for s in SERVICES}
            api.onboard(tenant_document(kommunenummer, services=services, policy=policy))
        client = _client(api)
        app = create_board_app(str(api.client.base_url), client, parts=board_parts())
        with Served(app) as served:
            yield served


def _client(api: TestPlatform) -> dict[str, Any]:
    return {
        "client_id": LEGEVAKT,
        "private_jwk": api.key(LEGEVAKT).as_dict(private=True),
        "scopes": ["news2:read", "kommunale-tjenester:read"],
    }


SPECIAL = st.sampled_from(
    [
        "\ud800",
        "a\udfffb",
        "\x00",
        "x\x00y",
        "²",
        "٣",
        "１２３４５６７８９０１",
        "1" * 5000,
        "",
        "‮",
        "\ufeff",
        ANNE,
        ANNE + "\x00",
        ANNE[:-1] + "0",
        " " + BJORN,
        *OTHERS,
    ]
)
TEXT = st.text(st.characters(exclude_categories=()), max_size=20) | SPECIAL
BAD_BYTES = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xb2", b"%ff", b"%00", b"%"])


def raw(text: str) -> bytes:
    """A string as bytes, a lone surrogate as its (invalid) UTF-8 encoding."""
    return text.encode("utf-8", "surrogatepass")


def header_bytes(text: str) -> bytes:
    """Bytes a client can put in a header value (h11 refuses control characters and leading or
    trailing white space before sending); 0x80-0xFF are obs-text."""
    value = bytes(b for b in raw(text) if b >= 0x20 and b != 0x7F).strip(b" \t")
    return value or b"x"


HEADER_VALUES = TEXT.map(header_bytes) | BAD_BYTES


@st.composite
def query_strings(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(TEXT, TEXT), max_size=3))
    query = b"&".join(
        quote_from_bytes(raw(k), safe="").encode() + b"=" + quote_from_bytes(raw(v)).encode()
        for k, v in pairs
    )
    if draw(st.booleans()):
        query += draw(BAD_BYTES)
    return query


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    TEXT
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([None, True, False, [], {}]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def bodies(draw: st.DrawFn, key: str) -> bytes:
    """What the page sends (``{"patient": ...}``, ``{"key": ...}``) with any value; any other
    JSON; JSON with a duplicate name, too deep or too large; bytes that are not JSON."""
    kind = draw(st.sampled_from(["field", "json", "bytes", "odd"]))
    if kind == "field":
        name = draw(st.sampled_from(["patient", "key"]))
        value = draw(st.just(key) | TEXT | JSON_VALUES)
        text = json.dumps({name: value}, ensure_ascii=draw(st.booleans()))
        return text.encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    return draw(
        st.sampled_from(
            [
                b'{"patient": "1", "patient": "2"}',
                b"[" * 2000 + b"]" * 2000,
                b'{"patient": "' + b"1" * MAX_BODY_BYTES + b'"}',
                b'{"patient": NaN}',
                b'{"key": 1e999}',
                b"\xef\xbb\xbf{}",
                b'{"key": "\\ud800"}',
                b'{"patient": "' + ANNE.encode() + b'\xff"}',
            ]
        )
    )


ROUTES = [
    b"/",
    b"/board",
    b"/events",
    b"/static/board.js",
    *[b"/patients", b"/patients/remove"] * 2,
]
FLAWS = ["none", "none", "query", "headers", "host", "origin", "content-type", "method", "path"]
"""What a request gets wrong: mostly one thing at most, so that most reach the code behind the
board's first checks (its Host, the page's Origin and JSON)."""
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


@st.composite
def requests(draw: st.DrawFn, own_host: str, key: str) -> dict[str, Any]:
    flaw = draw(st.sampled_from(FLAWS))
    path = draw(st.sampled_from(ROUTES))
    post = path.startswith(b"/patients")
    if flaw == "path":
        path += draw(st.sampled_from([b"/", b"/..", b"/%2e%2e/app.py", b"/x"]))
        path += quote_from_bytes(raw(draw(TEXT)), safe="/").encode()
    if flaw == "query" or draw(st.booleans()):
        path += b"?" + draw(query_strings())
    method = draw(st.sampled_from(METHODS)) if flaw == "method" else "POST" if post else "GET"
    headers: dict[str, Any] = {
        "host": draw(HEADER_VALUES) if flaw == "host" else own_host,
        "origin": draw(HEADER_VALUES) if flaw == "origin" else f"http://{own_host}",
        "content-type": draw(HEADER_VALUES) if flaw == "content-type" else "application/json",
    }
    names = ["accept", "last-event-id", "cookie", "range", "if-none-match", "x-forwarded-for"]
    if flaw == "headers":
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            headers[name] = draw(HEADER_VALUES)
    content = draw(bodies(key)) if method in ("POST", "PUT", "PATCH", "DELETE") else b""
    return {"method": method, "url": path.decode("latin-1"), "headers": headers, "content": content}


def test_the_board_answers_no_server_error(board: Served) -> None:
    own_host = f"127.0.0.1:{board.port}"
    page_headers = {"Host": own_host, "Origin": f"http://{own_host}"}
    with httpx.Client(base_url=board.url, timeout=30) as client:
        added = client.post("/patients", json={"patient": ANNE}, headers=page_headers)
        assert added.status_code == 201, added.text
        key = added.json()["added"]

        @EXAMPLES
        @given(requests(own_host, key))
        def sends(request: dict[str, Any]) -> None:
            with client.stream(**request) as response:
                if not (request["url"].startswith("/events") and response.status_code == 200):
                    response.read()
                assert response.status_code < 500, (request, response.status_code)

        sends()
        # the board still serves
        shown = client.get("/board", headers=page_headers)
        assert shown.status_code == 200, shown.text
