"""Who may change a client of the built-in issuer: the platform operator, or the one tenant file
that registered it. Another municipality's file may grant the client access to its own data and
nothing more: no keys, no new name, no admin flag, no say over what the client may do elsewhere.
Offboarding removes what the tenant added, and keeps what another municipality still grants."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what the test client answers with
import pytest
import yaml
from joserfc.jwk import ECKey
from sqlalchemy import select

from journalloft.cli import main
from journalloft.platform.auth.clients import client_keys, get_client, list_clients, register_client
from journalloft.platform.core.settings import get_settings
from journalloft.platform.core.tenancy import TenantFileError
from journalloft.platform.operations.onboarding import (
    KeptClient,
    OnboardingReport,
    offboard,
    onboard,
)
from journalloft.platform.storage.directory import TENANT_TABLE
from support import people, tenant_document, token_form
from support.platform import TestPlatform
from support.security import PUBLIC_URL, an_hour_ago, claims_of, use_platform_settings

(PATIENT,) = people(1, seed="security-clients")
QUERY = "/v1/news2/query"


@pytest.fixture
def pilots(platform: TestPlatform) -> TestPlatform:
    """Bodø and Bærum, each holding a NEWS2 measurement of the same person."""
    at = an_hour_ago()
    for kommunenummer, source in (("1804", "bodo-epj"), ("3201", "baerum-epj")):
        record = {"id": "m-1", "patient": PATIENT, "updated": at, "effective": at, "spo2_scale": 1}
        pushed = platform.client.post(
            f"/v1/tenants/{kommunenummer}/news2/records",
            json={"records": [record]},
            headers=platform.headers(source),
        )
        assert pushed.status_code == 200, pushed.text
    return platform


@pytest.fixture
def cli(pilots: TestPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_platform_settings(pilots, monkeypatch)
    yield
    get_settings.cache_clear()


def write_file(platform: TestPlatform, document: dict[str, Any]) -> Path:
    path = platform.tmp / f"{document['kommunenummer']}-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def onboard_file(platform: TestPlatform, path: Path) -> OnboardingReport:
    """Onboard a tenant file exactly as ``journalloft tenants onboard`` does (no test keys)."""
    runtime = platform.runtime
    report = onboard(
        path, stores=runtime.stores, schemas=runtime.schemas, services=runtime.services
    )
    runtime.tenants.reload()
    platform._tokens.clear()
    return report


def refused(platform: TestPlatform, document: dict[str, Any]) -> tuple[Path, str]:
    path = write_file(platform, document)
    with pytest.raises(TenantFileError) as caught:
        onboard_file(platform, path)
    platform.runtime.tenants.reload()
    return path, str(caught.value)


def jwks(*keys: ECKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def request_token(platform: TestPlatform, client_id: str, key: ECKey) -> httpx.Response:
    return platform.client.post(
        "/oauth/token", data=token_form(client_id, key, audience=PUBLIC_URL)
    )


def read(platform: TestPlatform, token: str, kommuner: list[str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"patients": [PATIENT]}
    if kommuner is not None:
        body["kommuner"] = kommuner
    return platform.client.post(QUERY, json=body, headers={"Authorization": f"Bearer {token}"})


def client(platform: TestPlatform, client_id: str) -> dict[str, Any] | None:
    with platform.runtime.stores.platform_engine.connect() as connection:
        return get_client(connection, client_id)


def kids(platform: TestPlatform, client_id: str) -> list[str]:
    with platform.runtime.stores.platform_engine.connect() as connection:
        return [jwk["kid"] for jwk in client_keys(connection, client_id)]


def onboarded(platform: TestPlatform) -> list[str]:
    with platform.runtime.stores.platform_engine.connect() as connection:
        return list(connection.execute(select(TENANT_TABLE.c.kommunenummer)).scalars())


def attacker_document(attacker: ECKey, *, victim: str = "baerum-legevakt") -> dict[str, Any]:
    """A new municipality (7777) whose file names Bærum's legevakt with the attacker's key."""
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"].append(
        {
            "client_id": victim,
            "name": "Bærum legevakt",
            "services": ["news2"],
            "jwks": jwks(attacker),
        }
    )
    return document


def test_a_tenant_file_cannot_give_another_municipalitys_client_a_key(
    pilots: TestPlatform,
) -> None:
    """The penetration test's attack, end to end: a new municipality's file names Bærum's
    legevakt with the attacker's key, then the attacker asks for a token and reads Bærum."""
    attacker = ECKey.generate_key("P-256", auto_kid=True)
    own = ECKey.generate_key("P-256", auto_kid=True)
    document = attacker_document(attacker)
    document["consumers"][0]["jwks"] = jwks(own)  # 7777's own new legevakt, with its own key
    path = write_file(pilots, document)
    try:
        onboard_file(pilots, path)
        message = None
    except TenantFileError as exc:
        message = str(exc)
    for attempt in ("after onboarding", "after offboarding 7777"):
        token = request_token(pilots, "baerum-legevakt", attacker)
        if token.status_code == 200:
            stolen = read(pilots, token.json()["access_token"], kommuner=["3201"])
            assert stolen.status_code != 200, f"{attempt}, the attacker read: {stolen.text}"
        assert token.status_code == 401, f"{attempt}: {token.text}"
        assert token.json()["error"] == "invalid_client"
        if offboard("7777", stores=pilots.runtime.stores) is not None:
            pilots.runtime.tenants.reload()

    assert message is not None, "the file was onboarded"
    assert str(path) in message
    assert "/consumers/1/jwks" in message
    assert "3201" in message
    # nothing of the file is applied: no tenant, no store, none of its new clients or keys
    assert "7777" not in onboarded(pilots)
    assert not pilots.runtime.stores.tenant_store_exists("7777")
    assert client(pilots, "k7777-legevakt") is None
    assert kids(pilots, "baerum-legevakt") == [pilots.key("baerum-legevakt").thumbprint()]
    assert request_token(pilots, "k7777-legevakt", own).status_code == 401

    # Bærum's legevakt still reads Bærum, with Bærum's own key
    answer = read(pilots, pilots.token("baerum-legevakt"), kommuner=["3201"])
    assert answer.status_code == 200, answer.text
    assert [r["kommunenummer"] for r in answer.json()["results"]] == ["3201"]


@pytest.mark.parametrize(
    ("victim", "role"),
    [
        ("baerum-epj", "sources"),  # would write into Bærum's store
        ("baerum-drift", "operators"),  # would read Bærum's audit log
        ("baerum-legevakt", "operators"),  # named in another role than Bærum's
        ("7b2c6f3e-helseid-legevakt", "consumers"),  # Bærum trusts it through HelseID
    ],
)
def test_no_client_of_another_municipality_takes_a_key_from_a_tenant_file(
    pilots: TestPlatform, victim: str, role: str
) -> None:
    if victim.endswith("helseid-legevakt"):  # a HelseID client id Bærum grants, never given keys
        baerum = tenant_document("3201")
        baerum["consumers"].append({"client_id": victim, "name": "LV", "services": ["news2"]})
        onboard_file(pilots, write_file(pilots, baerum))
    attacker = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("7777", services={"news2": {}})
    entry: dict[str, Any] = {"client_id": victim, "name": victim, "jwks": jwks(attacker)}
    if role != "operators":
        entry["services"] = ["news2"]
    document[role].append(entry)
    _, message = refused(pilots, document)
    assert f"/{role}/1/jwks" in message
    assert "municipality 3201" in message
    assert request_token(pilots, victim, attacker).status_code == 401
    assert "7777" not in onboarded(pilots)


def test_the_attack_through_the_command_line_leaves_the_client_list_unchanged(
    pilots: TestPlatform, cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    attacker = ECKey.generate_key("P-256", auto_kid=True)
    path = write_file(pilots, attacker_document(attacker))
    assert main(["tenants", "onboard", str(path)]) == 1
    error = capsys.readouterr().err
    assert str(path) in error
    assert "/consumers/1/jwks" in error
    assert main(["clients", "list"]) == 0
    listing = capsys.readouterr().out
    [line] = [x for x in listing.splitlines() if x.startswith("baerum-legevakt ")]
    assert attacker.thumbprint() not in line
    assert pilots.key("baerum-legevakt").thumbprint() in line
    assert "owner: 3201" in line
    assert main(["tenants", "offboard", "7777", "--yes"]) == 1
    assert request_token(pilots, "baerum-legevakt", attacker).status_code == 401


def test_a_refused_file_leaves_an_onboarded_municipality_as_it_was(pilots: TestPlatform) -> None:
    attacker = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("1804", policy={"require_attestation": True})
    document["consumers"].append(
        {"client_id": "baerum-epj", "name": "x", "services": ["news2"], "jwks": jwks(attacker)}
    )
    _, message = refused(pilots, document)
    assert "/consumers/1/jwks" in message
    bodo = pilots.runtime.tenants.get("1804")
    assert bodo is not None
    assert bodo.policy.require_attestation is False
    assert not bodo.may_read("baerum-epj", "news2")
    assert request_token(pilots, "baerum-epj", attacker).status_code == 401


def test_a_tenant_file_may_grant_another_municipalitys_client_but_not_change_it(
    pilots: TestPlatform,
) -> None:
    before = client(pilots, "baerum-legevakt")
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"].append(
        {"client_id": "baerum-legevakt", "name": "Renamed by 7777", "services": ["news2"]}
    )
    report = onboard_file(pilots, write_file(pilots, document))
    assert report.foreign_clients == {"baerum-legevakt": "3201"}
    assert client(pilots, "baerum-legevakt") == before
    assert kids(pilots, "baerum-legevakt") == [pilots.key("baerum-legevakt").thumbprint()]
    # the grant itself works: 7777's own data is now readable by Bærum's legevakt
    answer = read(pilots, pilots.token("baerum-legevakt"), kommuner=["7777"])
    assert answer.status_code == 200, answer.text
    # re-onboarding it is idempotent and still changes nothing about the client
    onboard_file(pilots, write_file(pilots, document))
    assert client(pilots, "baerum-legevakt") == before


def test_the_owner_renames_its_own_client_and_adds_keys(pilots: TestPlatform) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("3201")
    document["consumers"][0] |= {"name": "Bærum legevakt, ny tavle", "jwks": jwks(key)}
    onboard_file(pilots, write_file(pilots, document))
    renamed = client(pilots, "baerum-legevakt")
    assert renamed is not None
    assert (renamed["name"], renamed["owner"]) == ("Bærum legevakt, ny tavle", "3201")
    assert request_token(pilots, "baerum-legevakt", key).status_code == 200


def test_a_key_of_another_client_is_refused_before_anything_is_applied(
    pilots: TestPlatform,
) -> None:
    stolen = pilots.key("baerum-legevakt")
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"][0]["jwks"] = jwks(stolen)
    path, message = refused(pilots, document)
    assert str(path) in message
    assert "/consumers/0/jwks/keys/0" in message
    assert "another client" in message
    assert not pilots.runtime.stores.tenant_store_exists("7777")
    assert client(pilots, "k7777-legevakt") is None


def test_a_client_registered_while_the_store_is_made_refuses_the_file_and_its_new_store(
    pilots: TestPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another onboarding registers the client between the first check and the transaction: the
    check in the transaction refuses the file, and the store it created goes again."""
    import journalloft.platform.operations.onboarding as onboarding

    migrate = onboarding.migrate_tenant  # type: ignore[attr-defined]

    def migrate_while_another_registers(*args: Any, **kwargs: Any) -> Any:
        with pilots.runtime.stores.platform_engine.begin() as connection:
            register_client(connection, client_id="lv-nord", name="registered meanwhile")
        return migrate(*args, **kwargs)

    monkeypatch.setattr(onboarding, "migrate_tenant", migrate_while_another_registers)
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"].append(
        {
            "client_id": "lv-nord",
            "name": "LV",
            "services": ["news2"],
            "jwks": jwks(ECKey.generate_key("P-256", auto_kid=True)),
        }
    )
    _, message = refused(pilots, document)
    assert "/consumers/1/jwks" in message
    assert "platform operator" in message
    assert "7777" not in onboarded(pilots)
    assert not pilots.runtime.stores.tenant_store_exists("7777")
    assert client(pilots, "k7777-legevakt") is None


def test_a_key_that_is_not_a_usable_public_key_is_refused_with_its_pointer(
    pilots: TestPlatform,
) -> None:
    document = tenant_document("7777", services={"news2": {}})
    document["operators"][0]["jwks"] = {
        "keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]
    }
    path, message = refused(pilots, document)
    assert f"{path}: /operators/0/jwks/keys/0: not a usable public key" in message
    assert not pilots.runtime.stores.tenant_store_exists("7777")


def test_one_key_for_two_clients_in_one_file_is_refused(pilots: TestPlatform) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"][0]["jwks"] = jwks(key)
    document["sources"][0]["jwks"] = jwks(key)
    _, message = refused(pilots, document)
    assert "/consumers/0/jwks/keys/0" in message
    assert "7777" not in onboarded(pilots)


def test_a_tenant_file_cannot_touch_the_operators_clients_or_the_admin_flag(
    pilots: TestPlatform, cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_key = ECKey.generate_key("P-256", auto_kid=True)
    jwk_file = tmp_path / "ops.jwk"
    jwk_file.write_text(json.dumps(admin_key.as_dict(private=False)), encoding="utf-8")
    assert (
        main(["clients", "add", "ops", "--admin", "--name", "Drift", "--jwk", str(jwk_file)]) == 0
    )
    capsys.readouterr()
    ops = client(pilots, "ops")
    assert ops is not None
    assert ops["owner"] is None

    attacker = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("7777", services={"news2": {}})
    document["operators"].append({"client_id": "ops", "name": "Mine", "jwks": jwks(attacker)})
    _, message = refused(pilots, document)
    assert "/operators/1/jwks" in message
    assert "platform operator" in message
    assert request_token(pilots, "ops", attacker).status_code == 401

    document["operators"][1].pop("jwks")
    onboard_file(pilots, write_file(pilots, document))
    assert client(pilots, "ops") == ops  # same name, still admin, still the operator's

    sneaky = tenant_document("7778", services={"news2": {}})
    sneaky["consumers"][0]["admin"] = True
    _, message = refused(pilots, sneaky)
    assert "/consumers/0/admin" in message
    assert "k7778-legevakt" not in {c["client_id"] for c in all_clients(pilots)}

    # a client a tenant file created stays the tenant's when the operator changes it
    assert main(["clients", "add", "baerum-legevakt", "--name", "Bærum LV"]) == 0
    changed = client(pilots, "baerum-legevakt")
    assert changed is not None
    assert (changed["name"], changed["owner"], changed["admin"]) == ("Bærum LV", "3201", False)


def all_clients(platform: TestPlatform) -> list[dict[str, Any]]:
    with platform.runtime.stores.platform_engine.connect() as connection:
        return list_clients(connection)


def test_naming_another_municipalitys_clients_gives_them_nothing_there(
    pilots: TestPlatform,
) -> None:
    """7777 names Bodø's clients in every role; in Bodø they can do exactly what they could."""
    document = tenant_document("7777", services={"news2": {}})
    for role in ("sources", "consumers"):
        for other in ("bodo-epj", "bodo-legevakt", "bodo-drift"):
            document[role].append({"client_id": other, "name": other, "services": ["news2"]})
    for other in ("bodo-epj", "bodo-legevakt", "bodo-drift"):
        document["operators"].append({"client_id": other, "name": other})
    onboard_file(pilots, write_file(pilots, document))
    at = an_hour_ago()
    record = {"id": "x-1", "patient": PATIENT, "updated": at, "effective": at, "spo2_scale": 1}

    for client_id in ("bodo-legevakt", "bodo-drift"):
        headers = pilots.headers(client_id)
        assert "news2:write" in claims_of(pilots.token(client_id))["scope"]  # 7777's grant ...
        write = pilots.client.post(  # ... which is worth nothing in Bodø
            "/v1/tenants/1804/news2/records", json={"records": [record]}, headers=headers
        )
        assert write.status_code == 403, write.text
    for client_id in ("bodo-epj", "bodo-legevakt"):
        audit = pilots.client.post(
            "/v1/tenants/1804/audit/query",
            json={"patient": PATIENT},
            headers=pilots.headers(client_id),
        )
        assert audit.status_code == 403, audit.text
        restrict = pilots.client.put(
            "/v1/tenants/1804/restrictions",
            json={"patient": PATIENT, "restricted": True},
            headers=pilots.headers(client_id),
        )
        assert restrict.status_code == (200 if client_id == "bodo-epj" else 403), restrict.text
    for client_id in ("bodo-epj", "bodo-drift"):
        lookup = read(pilots, pilots.token(client_id), kommuner=["1804"])
        assert lookup.status_code == 403, lookup.text
        everywhere = read(pilots, pilots.token(client_id))
        assert everywhere.status_code == 200, everywhere.text
        assert {r["kommunenummer"] for r in everywhere.json()["results"]} <= {"7777"}


def test_another_municipalitys_policy_does_not_change_access_to_this_one(
    pilots: TestPlatform,
) -> None:
    document = tenant_document(
        "7777",
        services={"news2": {}},
        policy={"require_dpop": True, "require_attestation": True, "rate_limit_per_minute": 1},
    )
    document["consumers"].append(
        {"client_id": "baerum-legevakt", "name": "x", "services": ["news2"]}
    )
    onboard_file(pilots, write_file(pilots, document))
    token = pilots.token("baerum-legevakt")
    for _ in range(3):
        answer = read(pilots, token, kommuner=["3201"])
        assert answer.status_code == 200, answer.text
        assert [r["kommunenummer"] for r in answer.json()["results"]] == ["3201"]


def test_another_municipalitys_file_does_not_change_a_clients_organisation(
    pilots: TestPlatform,
) -> None:
    """The organisation in a client's tokens (and in every audit event of its accesses) is its
    owner's, whoever else names it."""
    document = tenant_document("7777", services={"news2": {}}, organisasjonsnummer="974760673")
    document["consumers"].append(
        {"client_id": "baerum-legevakt", "name": "x", "services": ["news2"]}
    )
    onboard_file(pilots, write_file(pilots, document))
    claims = claims_of(pilots.token("baerum-legevakt"))
    assert claims["helseid://claims/client/claims/orgnr_parent"] == "935478715"


def salten_document(key: ECKey) -> dict[str, Any]:
    document = tenant_document("1804")
    document["consumers"].append(
        {
            "client_id": "salten-legevakt",
            "name": "Salten interkommunale legevakt",
            "services": ["news2"],
            "jwks": jwks(key),
        }
    )
    return document


def grant(kommunenummer: str, client_id: str) -> dict[str, Any]:
    document = tenant_document(kommunenummer)
    document["consumers"].append({"client_id": client_id, "name": client_id, "services": ["news2"]})
    return document


def test_an_inter_municipal_legevakt_reads_both_and_survives_the_other_leaving(
    pilots: TestPlatform,
) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    pilots.keys["salten-legevakt"] = key
    onboard_file(pilots, write_file(pilots, salten_document(key)))
    report = onboard_file(pilots, write_file(pilots, grant("3201", "salten-legevakt")))
    assert report.foreign_clients == {"salten-legevakt": "1804"}
    token = pilots.token("salten-legevakt")
    everywhere = read(pilots, token)
    assert everywhere.status_code == 200, everywhere.text
    assert [r["kommunenummer"] for r in everywhere.json()["results"]] == ["1804", "3201"]
    for kommunenummer in ("1804", "3201"):
        one = read(pilots, token, kommuner=[kommunenummer])
        assert one.status_code == 200, one.text

    left = offboard("3201", stores=pilots.runtime.stores)
    assert left is not None
    assert left.removed_clients == ("baerum-drift", "baerum-epj", "baerum-legevakt")
    assert left.kept_clients == ()
    pilots.runtime.tenants.reload()
    pilots._tokens.clear()
    after = read(pilots, pilots.token("salten-legevakt"))
    assert after.status_code == 200, after.text
    assert [r["kommunenummer"] for r in after.json()["results"]] == ["1804"]
    salten = client(pilots, "salten-legevakt")
    assert salten is not None
    assert salten["owner"] == "1804"
    assert kids(pilots, "salten-legevakt") == [key.thumbprint()]


def test_offboarding_the_owner_keeps_a_client_another_municipality_grants(
    pilots: TestPlatform, cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    pilots.keys["salten-legevakt"] = key
    onboard_file(pilots, write_file(pilots, salten_document(key)))
    onboard_file(pilots, write_file(pilots, grant("3201", "salten-legevakt")))

    assert main(["tenants", "offboard", "1804", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "offboarded 1804" in out
    assert "removed client bodo-legevakt" in out
    assert "kept client salten-legevakt: still granted by 3201" in out
    assert "now owned by the platform operator" in out
    pilots.runtime.tenants.reload()
    pilots._tokens.clear()
    salten = client(pilots, "salten-legevakt")
    assert salten is not None
    assert salten["owner"] is None
    answer = read(pilots, pilots.token("salten-legevakt"))
    assert answer.status_code == 200, answer.text
    assert [r["kommunenummer"] for r in answer.json()["results"]] == ["3201"]
    assert request_token(pilots, "bodo-legevakt", pilots.key("bodo-legevakt")).status_code == 401
    assert main(["clients", "list"]) == 0
    listing = capsys.readouterr().out
    assert "bodo-legevakt" not in listing
    [line] = [x for x in listing.splitlines() if x.startswith("salten-legevakt ")]
    assert "owner: operator" in line


def test_offboarding_removes_the_clients_and_keys_the_tenant_registered(
    pilots: TestPlatform,
) -> None:
    own = ECKey.generate_key("P-256", auto_kid=True)
    document = tenant_document("7777", services={"news2": {}})
    document["consumers"][0]["jwks"] = jwks(own)
    document["consumers"].append(
        {"client_id": "baerum-legevakt", "name": "x", "services": ["news2"]}
    )
    onboard_file(pilots, write_file(pilots, document))
    assert request_token(pilots, "k7777-legevakt", own).status_code == 200
    pilots.runtime.tenants.reload()

    with pilots.runtime.stores.platform_engine.begin() as connection:  # the operator's doing
        register_client(connection, client_id="k7777-drift", name="Drift", admin=True)

    report = offboard("7777", stores=pilots.runtime.stores)
    assert report is not None
    assert set(report.removed_clients) == {"k7777-epj", "k7777-legevakt"}
    assert report.kept_clients == (KeptClient("k7777-drift", (), admin=True),)
    assert report.kept_clients[0].reason == "an admin client"
    kept = client(pilots, "k7777-drift")
    assert kept is not None
    assert (kept["owner"], kept["admin"]) == (None, True)
    pilots.runtime.tenants.reload()
    pilots._tokens.clear()
    assert request_token(pilots, "k7777-legevakt", own).status_code == 401
    assert client(pilots, "k7777-legevakt") is None
    assert client(pilots, "baerum-legevakt") is not None  # named by 7777, but Bærum's
    answer = read(pilots, pilots.token("baerum-legevakt"))
    assert [r["kommunenummer"] for r in answer.json()["results"]] == ["3201"]
    # its key is free again: another municipality can register it for a client of its own
    again = tenant_document("7778", services={"news2": {}})
    again["consumers"][0]["jwks"] = jwks(own)
    onboard_file(pilots, write_file(pilots, again))
    assert request_token(pilots, "k7778-legevakt", own).status_code == 200


def test_a_file_granting_a_client_another_municipality_registered_says_so(
    pilots: TestPlatform, cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client id another municipality registered first (squatted, or shared on purpose) keeps
    that municipality's keys: the operator onboarding the grant is told whose they are."""
    squatter = ECKey.generate_key("P-256", auto_kid=True)
    first = tenant_document("7777", services={"news2": {}})
    first["consumers"].append(
        {
            "client_id": "baerum-tavla",
            "name": "Tavle",
            "services": ["news2"],
            "jwks": jwks(squatter),
        }
    )
    onboard_file(pilots, write_file(pilots, first))
    path = write_file(pilots, grant("3201", "baerum-tavla"))
    assert main(["tenants", "onboard", str(path)]) == 0
    out = capsys.readouterr().out
    assert "grants baerum-tavla, registered by 7777" in out
