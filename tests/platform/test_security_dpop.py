"""DPoP end to end (RFC 9449): a bound token from /oauth/token, calls with Authorization: DPoP and
a proof per request, the proof matrix, and a tenant that requires DPoP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from journalloft.platform.auth.dpop import normalise_htu
from support import dpop_proof, people, tenant_document, token_form
from support.platform import Backend, TestPlatform, start_platform
from support.security import PUBLIC_URL, an_hour_ago, b64url, claims_of, dpop_headers, dpop_token

ALICE, BOB = people(2, seed="security-dpop")
QUERY = "/v1/news2/query"
AT = an_hour_ago()


def measurement(record_id: str, patient: str = ALICE) -> dict[str, Any]:
    return {"id": record_id, "patient": patient, "updated": AT, "effective": AT, "spo2_scale": 1}


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestPlatform]:
    """Bodø as usual, and Tromsø (5501), which requires DPoP of every client."""
    for platform in start_platform(module_backend, tmp_path_factory.mktemp("dpop")):
        platform.onboard(tenant_document("1804"))
        platform.onboard(
            tenant_document(
                "5501",
                name="Tromsø kommune",
                organisasjonsnummer="940101808",
                policy={"require_dpop": True},
            )
        )
        yield platform


@pytest.fixture(scope="module")
def legevakt_key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def bound(platform: TestPlatform, legevakt_key: ECKey) -> str:
    """A DPoP-bound token of Bodø's legevakt."""
    return dpop_token(platform, "bodo-legevakt", legevakt_key)


def query(platform: TestPlatform, headers: dict[str, str], **body: Any) -> httpx.Response:
    return platform.client.post(
        QUERY, json={"patients": [ALICE], "kommuner": ["1804"], **body}, headers=headers
    )


def test_push_and_look_up_with_dpop_bound_tokens(platform: TestPlatform) -> None:
    epj_key, legevakt_key = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    epj = dpop_token(platform, "bodo-epj", epj_key)
    path = "/v1/tenants/1804/news2/records"
    pushed = platform.client.post(
        path,
        json={"records": [measurement("d-1")]},
        headers=dpop_headers(epj, epj_key, "POST", path),
    )
    assert pushed.status_code == 200, pushed.text
    token = dpop_token(platform, "bodo-legevakt", legevakt_key)
    found = query(platform, dpop_headers(token, legevakt_key, "POST", QUERY))
    assert found.status_code == 200, found.text
    assert [r["patient"] for r in found.json()["results"]] == [ALICE]
    withdrawn = "/v1/tenants/1804/news2/records/d%201"
    platform.client.post(
        path,
        json={"records": [measurement("d 1")]},
        headers=dpop_headers(epj, epj_key, "POST", path),
    )
    deleted = platform.client.delete(
        withdrawn, headers=dpop_headers(epj, epj_key, "DELETE", withdrawn)
    )
    assert deleted.status_code == 204, deleted.text  # htu is the path as sent, percent-encoded


def test_a_dpop_bound_token_is_refused_as_bearer(
    platform: TestPlatform, bound: str, legevakt_key: ECKey
) -> None:
    response = query(platform, {"Authorization": f"Bearer {bound}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_an_unbound_token_is_refused_as_dpop(platform: TestPlatform, legevakt_key: ECKey) -> None:
    token = platform.token("bodo-legevakt")
    response = query(platform, dpop_headers(token, legevakt_key, "POST", QUERY))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert "not bound" in response.json()["detail"]


def _private_jwk_proof(key: ECKey, token: str) -> str:
    return dpop_proof(
        key,
        method="POST",
        url=PUBLIC_URL + QUERY,
        access_token=token,
        header={"jwk": key.as_dict(private=True)},
    )


def _hs256_proof(token: str) -> str:
    secret = OctKey.generate_key(256)
    return jwt.encode(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}},
        {"htm": "POST", "htu": PUBLIC_URL + QUERY, "iat": int(time.time()), "jti": "x" * 16},
        secret,
    )


def _unsigned_proof(key: ECKey, token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    claims = {"htm": "POST", "htu": PUBLIC_URL + QUERY, "iat": int(time.time()), "jti": "y" * 16}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


PROOF_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "wrong htm": ({"method": "PUT"}, "htm"),
    "wrong htu path": ({"url": PUBLIC_URL + "/v1/kommunale-tjenester/query"}, "htu"),
    "wrong htu host": ({"url": "http://attacker.example" + QUERY}, "htu"),
    "htu path in another case": ({"url": PUBLIC_URL + QUERY.upper()}, "htu"),
    "htu with a trailing slash": ({"url": PUBLIC_URL + QUERY + "/"}, "htu"),
    "stale iat": ({"iat_offset": -120}, "iat"),
    "iat in the future": ({"iat_offset": 120}, "iat"),
    "missing ath": ({"access_token": None}, "ath"),
    "ath of another token": ({"access_token": "another-token"}, "ath"),
    "wrong typ": ({"header": {"typ": "JWT"}}, "typ"),
    "short jti": ({"jti": "abc"}, "jti"),
}


@pytest.mark.parametrize("case", list(PROOF_CASES))
def test_dpop_proof_matrix(
    platform: TestPlatform, bound: str, legevakt_key: ECKey, case: str
) -> None:
    changes, reason = PROOF_CASES[case]
    options: dict[str, Any] = {
        "method": "POST",
        "url": PUBLIC_URL + QUERY,
        "access_token": bound,
        **changes,
    }
    if "iat_offset" in options:
        options["iat"] = int(time.time()) + options.pop("iat_offset")
    proof = dpop_proof(legevakt_key, **options)
    response = query(platform, {"Authorization": f"DPoP {bound}", "DPoP": proof})
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256' in challenge
    assert reason in response.json()["detail"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("foreign key", "another key"),
        ("private key in the proof", "key or signature"),
        ("HS256", "algorithm"),
        ("alg none", "algorithm"),
        ("no proof", "proof is required"),
        ("two proofs", "one dpop header"),
        ("not a JWT", "not a JWT"),
    ],
)
def test_dpop_proofs_of_the_wrong_key_or_kind(
    platform: TestPlatform, bound: str, legevakt_key: ECKey, case: str, reason: str
) -> None:
    stranger = ECKey.generate_key("P-256")
    fresh = dpop_proof(legevakt_key, method="POST", url=PUBLIC_URL + QUERY, access_token=bound)
    headers: list[tuple[str, str]] = [("Authorization", f"DPoP {bound}")]
    proofs = {
        "foreign key": [
            dpop_proof(stranger, method="POST", url=PUBLIC_URL + QUERY, access_token=bound)
        ],
        "private key in the proof": [_private_jwk_proof(legevakt_key, bound)],
        "HS256": [_hs256_proof(bound)],
        "alg none": [_unsigned_proof(legevakt_key, bound)],
        "no proof": [],
        "two proofs": [fresh, fresh],
        "not a JWT": ["proof"],
    }[case]
    headers += [("DPoP", proof) for proof in proofs]
    response = platform.client.post(
        QUERY, json={"patients": [ALICE], "kommuner": ["1804"]}, headers=headers
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert reason in response.json()["detail"]


def test_a_replayed_proof_is_refused(
    platform: TestPlatform, bound: str, legevakt_key: ECKey
) -> None:
    headers = dpop_headers(bound, legevakt_key, "POST", QUERY)
    assert query(platform, headers).status_code == 200
    replayed = query(platform, headers)
    assert replayed.status_code == 401
    assert "used before" in replayed.json()["detail"]
    if platform.runtime.settings.redis_url:
        import redis

        store = redis.Redis.from_url(platform.runtime.settings.redis_url)
        jti = claims_of(headers["DPoP"])["jti"]
        assert store.exists(f"journalloft:dpop:{legevakt_key.thumbprint()}:{jti}")


@pytest.mark.parametrize(
    "htu",
    [
        "HTTP://TestServer" + QUERY,
        "http://testserver:80" + QUERY,
        PUBLIC_URL + QUERY + "?patient=ignored#and-this",
        PUBLIC_URL + "/v1/news2/%71uery",
    ],
)
def test_htu_is_normalised_as_rfc_9449_says(
    platform: TestPlatform, bound: str, legevakt_key: ECKey, htu: str
) -> None:
    proof = dpop_proof(legevakt_key, method="POST", url=htu, access_token=bound)
    response = query(platform, {"Authorization": f"DPoP {bound}", "DPoP": proof})
    assert response.status_code == 200, response.text


def test_normalise_htu() -> None:
    assert normalise_htu("HTTPS://Api.Example.NO:443/v1/A%2fb?q=1#f") == (
        "https://api.example.no/v1/A%2Fb"
    )
    assert normalise_htu("http://x:8000") == "http://x:8000/"
    assert normalise_htu("http://x/a/") != normalise_htu("http://x/a")
    assert normalise_htu("http://x/A") != normalise_htu("http://x/a")


def test_the_token_endpoint_refuses_a_bad_proof_with_invalid_dpop_proof(
    platform: TestPlatform, legevakt_key: ECKey
) -> None:
    form = token_form(
        "bodo-legevakt", platform.key("bodo-legevakt"), audience=PUBLIC_URL, scope=None
    )
    wrong_htu = dpop_proof(legevakt_key, method="POST", url=PUBLIC_URL + QUERY)
    response = platform.client.post("/oauth/token", data=form, headers={"DPoP": wrong_htu})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


def test_a_tenant_can_require_dpop(platform: TestPlatform) -> None:
    path = "/v1/tenants/5501/news2/records"
    bearer = platform.client.post(
        path, json={"records": [measurement("t-1")]}, headers=platform.headers("k5501-epj")
    )
    assert bearer.status_code == 401
    assert bearer.headers["www-authenticate"].startswith("DPoP")
    assert "requires DPoP" in bearer.json()["detail"]
    key = ECKey.generate_key("P-256")
    token = dpop_token(platform, "k5501-epj", key)
    pushed = platform.client.post(
        path, json={"records": [measurement("t-1")]}, headers=dpop_headers(token, key, "POST", path)
    )
    assert pushed.status_code == 200, pushed.text
    legevakt = platform.client.post(
        QUERY,
        json={"patients": [ALICE], "kommuner": ["5501"]},
        headers=platform.headers("k5501-legevakt"),
    )
    assert legevakt.status_code == 401
    bodo_still_takes_bearer = query(platform, platform.headers("bodo-legevakt"))
    assert bodo_still_takes_bearer.status_code == 200
