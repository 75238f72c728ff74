"""Clients of the built-in issuer: ``journalloft clients add|list|rotate-key|remove`` (public keys
only, several per client for rotation), and the client assertion rules of private_key_jwt."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from journalloft.cli import main
from journalloft.platform.auth.issuer import CLIENT_ASSERTION_TYPE
from journalloft.platform.core.settings import get_settings
from support import client_assertion, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import PUBLIC_URL, b64url, use_platform_settings


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("clients")):
        platform.onboard(tenant_document("1804"))
        yield platform


@pytest.fixture
def cli(platform: TestPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_platform_settings(platform, monkeypatch)
    yield
    get_settings.cache_clear()


def write_jwk(path: Path, *keys: ECKey, private: bool = False) -> str:
    documents = [k.as_dict(private=private) for k in keys]
    document = documents[0] if len(documents) == 1 else {"keys": documents}
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def request_token(
    platform: TestPlatform, client_id: str, key: ECKey, **form: str
) -> httpx.Response:
    data = {**token_form(client_id, key, audience=PUBLIC_URL), **form}
    return platform.client.post("/oauth/token", data=data)


def test_add_list_rotate_and_remove_a_client(
    platform: TestPlatform,
    cli: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second, third = (ECKey.generate_key("P-256", auto_kid=True) for _ in range(3))
    added = main(
        ["clients", "add", "ops", "--admin", "--jwk", write_jwk(tmp_path / "1.jwk", first)]
    )
    assert added == 0
    assert f"ops: key {first.thumbprint()}" in capsys.readouterr().out
    assert main(["clients", "list"]) == 0
    listing = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ops ")]
    assert len(listing) == 1
    assert "admin" in listing[0]
    assert first.thumbprint() in listing[0]
    token = request_token(platform, "ops", first)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "admin metrics:read"

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(second.as_dict(private=False))))
    assert main(["clients", "rotate-key", "ops", "--jwk", "-"]) == 0
    assert f"ops: added key {second.thumbprint()}" in capsys.readouterr().out
    assert request_token(platform, "ops", first).status_code == 200
    assert request_token(platform, "ops", second).status_code == 200

    third_file = write_jwk(tmp_path / "3.jwk", third)
    rotate = ["clients", "rotate-key", "ops", "--jwk", third_file, f"--remove={first.thumbprint()}"]
    assert main(rotate) == 0
    assert f"ops: removed key {first.thumbprint()}" in capsys.readouterr().out
    retired = request_token(platform, "ops", first)
    assert retired.status_code == 401
    assert retired.json()["error"] == "invalid_client"
    assert request_token(platform, "ops", third).status_code == 200

    assert main(["clients", "remove", "ops"]) == 1
    assert "--yes" in capsys.readouterr().err
    assert main(["clients", "remove", "ops", "--yes"]) == 0
    assert request_token(platform, "ops", third).status_code == 401
    assert main(["clients", "list"]) == 0
    assert "ops " not in capsys.readouterr().out
    assert main(["clients", "remove", "ops", "--yes"]) == 1


def test_several_keys_at_once_from_a_jwks(
    platform: TestPlatform, cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [ECKey.generate_key("P-256", auto_kid=True) for _ in range(2)]
    jwks = write_jwk(tmp_path / "jwks.json", *keys)
    assert main(["clients", "add", "ops-2", "--admin", "--jwk", jwks]) == 0
    out = capsys.readouterr().out
    assert all(k.thumbprint() in out for k in keys)
    assert [request_token(platform, "ops-2", k).status_code for k in keys] == [200, 200]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("private key", "private members"),
        ("symmetric key", "public keys"),
        ("not JSON", "not JSON"),
        ("another client's key", "registered to another client"),
        ("rotating an unknown client", "no client"),
        ("removing a key it does not have", "has no key"),
    ],
)
def test_only_public_keys_of_the_right_client_are_accepted(
    platform: TestPlatform,
    cli: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    path = tmp_path / "key.jwk"
    args = ["clients", "add", f"c-{uuid.uuid4().hex[:8]}", "--jwk", str(path)]
    if case == "private key":
        write_jwk(path, key, private=True)
    elif case == "symmetric key":
        path.write_text(json.dumps(OctKey.generate_key(256).as_dict()), encoding="utf-8")
    elif case == "not JSON":
        path.write_text("-----BEGIN PUBLIC KEY-----", encoding="utf-8")
    elif case == "another client's key":
        write_jwk(path, platform.key("bodo-epj"))
    elif case == "rotating an unknown client":
        write_jwk(path, key)
        args = ["clients", "rotate-key", "no-such-client", "--jwk", str(path)]
    else:
        write_jwk(path, key)
        args = ["clients", "rotate-key", "bodo-epj", "--jwk", str(path), "--remove", "nope"]
    assert main(args) == 1
    assert message in capsys.readouterr().err


def _unsigned(claims: dict[str, Any]) -> str:
    header = {"alg": "none"}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    header = b64url(json.dumps({"alg": "HS256", "kid": kid}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


ASSERTION_CASES = [
    ("valid (control)", 200, ""),
    ("aud is the token endpoint", 200, ""),
    ("exp 120 s ahead", 401, "60 s"),
    ("exp 61 s after iat", 401, "60 s"),
    ("expired", 401, "expired"),
    ("replayed jti", 401, "used before"),
    ("no jti", 401, "jti"),
    ("wrong aud", 401, "aud"),
    ("iss is not sub", 401, "iss and sub"),
    ("unknown client", 401, "could not be authenticated"),
    ("bad signature", 401, "could not be authenticated"),
    ("alg none", 401, "algorithm"),
    ("HS256 with the public key", 401, "algorithm"),
    ("a DPoP proof as assertion", 401, "typ"),
]


@pytest.mark.parametrize(("case", "status", "message"), ASSERTION_CASES)
def test_client_assertion_rules(
    platform: TestPlatform, case: str, status: int, message: str
) -> None:
    client, key = "bodo-legevakt", platform.key("bodo-legevakt")
    now = int(time.time())
    claims = {
        "iss": client,
        "sub": client,
        "aud": PUBLIC_URL,
        "iat": now,
        "exp": now + 30,
        "jti": uuid.uuid4().hex,
    }

    def signed(**changes: Any) -> str:
        return client_assertion(client, key, audience=PUBLIC_URL, **changes)

    assertion = {
        "valid (control)": lambda: signed(),
        "aud is the token endpoint": lambda: signed(aud=PUBLIC_URL + "/oauth/token"),
        "exp 120 s ahead": lambda: signed(iat=None, exp=now + 120),
        "exp 61 s after iat": lambda: signed(iat=now, exp=now + 61),
        "expired": lambda: signed(iat=now - 120, exp=now - 60),
        "replayed jti": lambda: signed(jti="once-only-" + uuid.uuid4().hex),
        "no jti": lambda: signed(jti=None),
        "wrong aud": lambda: signed(aud="https://helseid-sts.nhn.no"),
        "iss is not sub": lambda: signed(sub="bodo-epj"),
        "unknown client": lambda: client_assertion("no-such-client", key, audience=PUBLIC_URL),
        "bad signature": lambda: jwt.encode(
            {"alg": "ES256", "kid": key.kid}, claims, ECKey.generate_key("P-256", auto_kid=True)
        ),
        "alg none": lambda: _unsigned(claims),
        "HS256 with the public key": lambda: _hs256(
            claims, key.as_pem(private=False), key.kid or ""
        ),
        "a DPoP proof as assertion": lambda: jwt.encode(
            {"alg": "ES256", "typ": "dpop+jwt", "kid": key.kid}, claims, key
        ),
    }[case]()
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if case == "replayed jti":
        assert platform.client.post("/oauth/token", data=form).status_code == 200
    response = platform.client.post("/oauth/token", data=form)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error"] == "invalid_client"
        assert message in response.json()["error_description"]
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_client"')
    else:
        assert response.headers["cache-control"] == "no-store"
