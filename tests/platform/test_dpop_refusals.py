"""Every refusal of a DPoP proof, each with its exact reason, ``invalid_dpop_proof`` and a DPoP
challenge (RFC 9449 §7.1): what a client's developer reads to fix the proof. And the ``jti``'s
length and the ``ath`` on both sides of their edges."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import ECKey

from journalloft.platform.auth.dpop import normalise_htu, verify_dpop_proof
from journalloft.platform.auth.keys import b64url_sha256
from journalloft.platform.core.errors import Unauthorized
from journalloft.platform.storage.kv import MemoryKeyValue
from support import dpop_proof
from support.security import b64url

URL = "https://journalloft.example/v1/news2/query"
T = 1_900_000_000
KEY = ECKey.generate_key("P-256")
OTHER = ECKey.generate_key("P-256")
TOKEN = "an-access-token"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return ".".join(
        (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), "c2ln")
    )


def resigned_by_other(proof: str) -> str:
    """The proof's header and claims with another key's signature."""
    header, claims, _ = proof.split(".")
    signature = dpop_proof(OTHER, method="POST", url=URL, iat=T).split(".")[2]
    return f"{header}.{claims}.{signature}"


def proof(**changes: Any) -> str:
    return dpop_proof(KEY, method="POST", url=URL, access_token=TOKEN, iat=T, **changes)


PUBLIC = KEY.as_dict(private=False)
REFUSALS = {
    "not a JWT": ("not.a.jwt", "the DPoP proof is not a JWT"),
    "typ JWT": (proof(header={"typ": "JWT"}), "the DPoP proof's typ must be dpop+jwt"),
    "alg HS256": (
        unsigned({"typ": "dpop+jwt", "alg": "HS256", "jwk": PUBLIC}, {}),
        "the DPoP proof's algorithm is not accepted",
    ),
    "no jwk": (
        unsigned({"typ": "dpop+jwt", "alg": "ES256"}, {}),
        "the DPoP proof carries no public key",
    ),
    "jwk not an object": (
        unsigned({"typ": "dpop+jwt", "alg": "ES256", "jwk": "key"}, {}),
        "the DPoP proof carries no public key",
    ),
    "another key's signature": (
        resigned_by_other(proof()),
        "the DPoP proof's key or signature is not valid",
    ),
    "htm GET": (
        proof(claims={"htm": "GET"}),
        "the DPoP proof's htm does not match the request method",
    ),
    "htu elsewhere": (
        proof(claims={"htu": "https://journalloft.example/v1/news2/records"}),
        "the DPoP proof's htu does not match the request URL",
    ),
    "htu not a string": (
        proof(claims={"htu": 1}),
        "the DPoP proof's htu does not match the request URL",
    ),
    "iat missing": (
        proof(claims={"iat": None}),
        "the DPoP proof's iat is missing or outside the accepted window",
    ),
    "iat a string": (
        proof(claims={"iat": str(T)}),
        "the DPoP proof's iat is missing or outside the accepted window",
    ),
    "iat true": (
        proof(claims={"iat": True}),
        "the DPoP proof's iat is missing or outside the accepted window",
    ),
    "jti 7 characters": (proof(jti="j" * 7), "the DPoP proof needs a jti of 8 to 256 characters"),
    "jti 257 characters": (
        proof(jti="j" * 257),
        "the DPoP proof needs a jti of 8 to 256 characters",
    ),
    "jti a number": (
        proof(claims={"jti": 12345678}),
        "the DPoP proof needs a jti of 8 to 256 characters",
    ),
    "ath of another token": (
        proof(claims={"ath": b64url_sha256("another")}),
        "the DPoP proof's ath does not match the access token",
    ),
    "no ath": (proof(claims={"ath": None}), "the DPoP proof's ath does not match the access token"),
}


@pytest.mark.parametrize(("sent", "reason"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_each_refusal_says_why_as_invalid_dpop_proof(sent: str, reason: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        verify_dpop_proof(
            sent, method="POST", url=URL, access_token=TOKEN, replay=MemoryKeyValue(), now=T
        )
    assert refused.value.detail == reason
    assert refused.value.error == "invalid_dpop_proof"
    challenge = refused.value.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"'), challenge


@pytest.mark.parametrize("length", [8, 9, 255, 256])
def test_a_jti_of_8_to_256_characters_is_accepted(length: int) -> None:
    sent = proof(jti="j" * length)
    found = verify_dpop_proof(
        sent, method="POST", url=URL, access_token=TOKEN, replay=MemoryKeyValue(), now=T
    )
    assert found == KEY.thumbprint()


def test_a_replay_is_refused_as_used_before_for_the_same_key_only() -> None:
    replay = MemoryKeyValue()
    first = proof(jti="shared-jti")
    verify_dpop_proof(first, method="POST", url=URL, access_token=TOKEN, replay=replay, now=T)
    with pytest.raises(Unauthorized) as refused:
        verify_dpop_proof(first, method="POST", url=URL, access_token=TOKEN, replay=replay, now=T)
    assert refused.value.detail == "the DPoP proof has been used before"
    assert refused.value.error == "invalid_dpop_proof"
    other = dpop_proof(
        OTHER, method="POST", url=URL, access_token=TOKEN, iat=T, jti="shared-jti"
    )  # the same jti from another key is another proof
    found = verify_dpop_proof(
        other, method="POST", url=URL, access_token=TOKEN, replay=replay, now=T
    )
    assert found == OTHER.thumbprint()


def test_a_proof_at_the_token_endpoint_needs_no_ath() -> None:
    sent = dpop_proof(KEY, method="POST", url=URL, iat=T, claims={"ath": "anything"})
    found = verify_dpop_proof(
        sent, method="POST", url=URL, access_token=None, replay=MemoryKeyValue(), now=T
    )
    assert found == KEY.thumbprint()


def test_an_htu_with_an_invalid_port_matches_no_request_url() -> None:
    bad = normalise_htu("https://journalloft.example:99999/v1/news2/query")
    for url in (
        "https://journalloft.example/v1/news2/query",
        "https://journalloft.example:443/v1/news2/query",
        "https://journalloft.example:1/v1/news2/query",
    ):
        assert bad != normalise_htu(url)
