"""HTTP hygiene: caching and content-type headers, no redirects, docs without a CDN, token
endpoint errors as RFC 6749 says, and no tenant or client enumeration."""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from journalloft.platform.auth.issuer import CLIENT_ASSERTION_TYPE
from support import client_assertion, people, tenant_document
from support.live import served_platform
from support.platform import Backend, TestPlatform, start_platform
from support.security import PUBLIC_URL, an_hour_ago

ALICE = people(1, seed="security-hygiene")[0]
AT = an_hour_ago()
PROBLEM = "application/problem+json"


def record() -> dict[str, object]:
    return {"id": "h-1", "patient": ALICE, "updated": AT, "effective": AT, "spo2_scale": 1}


def test_responses_with_personal_data_or_tokens_are_never_cached(platform: TestPlatform) -> None:
    calls = {
        "ingest": platform.client.post(
            "/v1/tenants/1804/news2/records",
            json={"records": [record()]},
            headers=platform.headers("bodo-epj"),
        ),
        "query": platform.client.post(
            "/v1/news2/query", json={"patients": [ALICE]}, headers=platform.headers("bodo-legevakt")
        ),
        "audit": platform.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": ALICE},
            headers=platform.headers("bodo-drift"),
        ),
        "feed": platform.client.get(
            "/v1/tenants/1804/audit/events", headers=platform.headers("bodo-drift")
        ),
        "restriction": platform.client.put(
            "/v1/tenants/1804/restrictions",
            json={"patient": ALICE, "restricted": False},
            headers=platform.headers("bodo-drift"),
        ),
        "refused": platform.client.post("/v1/news2/query", json={"patients": [ALICE]}),
        "health": platform.client.get("/healthz"),
        "unknown": platform.client.get("/nowhere"),
    }
    for name, response in calls.items():
        assert response.status_code < 500, (name, response.text)
        assert response.headers["cache-control"] == "no-store", name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "strict-transport-security" not in response.headers, name
    token = platform.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(
                "bodo-legevakt", platform.key("bodo-legevakt"), audience="http://testserver"
            ),
        },
    )
    assert token.status_code == 200
    assert token.headers["cache-control"] == "no-store"


def test_https_deployments_send_strict_transport_security(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> None:
    platforms: Iterator[TestPlatform] = start_platform(
        backend, tmp_path_factory.mktemp("hsts"), public_url="https://journalloft.example"
    )
    for platform in platforms:
        response = platform.client.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/tenants/1804/news2/records/"),
        ("POST", "/v1/news2/query/"),
        ("GET", "/v1/tenants/"),
        ("GET", "/healthz/"),
    ],
)
def test_a_trailing_slash_is_not_redirected(platform: TestPlatform, method: str, path: str) -> None:
    """Before: 307 with Location: http://evil.example/… (the Host header) and a body that was not
    problem+json."""
    response = platform.client.request(
        method, path, json={}, headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "location" not in response.headers


def test_the_docs_load_nothing_from_outside_the_host(platform: TestPlatform) -> None:
    page = platform.client.get("/docs")
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert references, "the page names its assets"
    for reference in references:
        assert reference.startswith("/"), f"{reference} is not served by the platform"
        assert not reference.startswith("//")
        assert platform.client.get(reference).status_code == 200, reference
    script = platform.client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("application/javascript", "text/javascript"))


def test_unknown_client_and_bad_signature_get_the_same_answer(platform: TestPlatform) -> None:
    """No client enumeration: an unknown client id is refused in the same words as a known
    client whose assertion is signed with the wrong key."""
    stranger = ECKey.generate_key("P-256", auto_kid=True)

    def token_request(assertion: str) -> dict[str, object]:
        response = platform.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        body: dict[str, object] = response.json()
        assert body["type"] != "urn:journalloft:problem:internal-error"
        return {k: v for k, v in body.items()}

    unknown = token_request(client_assertion("no-such-client", stranger, audience=PUBLIC_URL))
    bad_signature = token_request(client_assertion("bodo-legevakt", stranger, audience=PUBLIC_URL))
    assert unknown == bad_signature
    assert unknown["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "invalid_client"),
        (
            {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": "not-a-jwt",
            },
            "invalid_client",
        ),
    ],
)
def test_token_endpoint_errors_are_rfc_6749(
    platform: TestPlatform, form: dict[str, str], error: str
) -> None:
    response = platform.client.post("/oauth/token", data=form)
    assert response.status_code in (400, 401)
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["type"] == "urn:journalloft:problem:token-request-refused"
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_signature_with_a_known_kid_is_still_not_enumerable(platform: TestPlatform) -> None:
    key = platform.key("bodo-legevakt")
    claims = {
        "iss": "bodo-legevakt",
        "sub": "bodo-legevakt",
        "aud": PUBLIC_URL,
        "exp": 4102444800,
        "jti": uuid.uuid4().hex,
    }
    forged = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, ECKey.generate_key("P-256"))
    response = platform.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": forged,
        },
    )
    assert response.status_code == 401
    assert "could not be authenticated" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", "news2/records"),
        ("DELETE", "news2/records/r-1"),
        ("POST", "audit/query"),
        ("GET", "audit/events"),
        ("PUT", "restrictions"),
    ],
)
def test_an_unauthenticated_call_does_not_tell_which_municipalities_exist(
    platform: TestPlatform, method: str, suffix: str
) -> None:
    """Before: 404 "no municipality 9999" for an unknown one, 401 for a known one."""
    answers = []
    for kommunenummer in ("1804", "9999"):
        response = platform.client.request(
            method, f"/v1/tenants/{kommunenummer}/{suffix}", json={"records": []}
        )
        body = response.json()
        answers.append((response.status_code, body["title"], body["detail"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


def test_a_client_that_hangs_up_mid_body_is_not_an_error_of_the_platform(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal system whose connection drops while it sends a batch: nothing is stored, and
    the log says the client closed the request (499), not that the platform failed."""
    caplog.set_level(logging.INFO)
    with served_platform(backend, tmp_path) as platform:
        platform.onboard(tenant_document("1804"))
        port = platform.client.base_url.port
        assert port is not None
        head = (
            "POST /v1/tenants/1804/news2/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {platform.headers('bodo-epj')['Authorization']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(head.encode() + b'{"records": [{"id": "m-1", ')
        deadline = time.monotonic() + 10
        while not any(" 499 " in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the hang-up was not logged"
            time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    access = [r.getMessage() for r in caplog.records if " 499 " in r.getMessage()]
    assert access[0].startswith("POST /v1/tenants/{kommunenummer}/news2/records 499 ")
