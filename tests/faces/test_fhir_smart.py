"""SMART on FHIR for backend services: ``/.well-known/smart-configuration`` made from the installed
providers, and SMART's system scopes standing for the native scopes (never more), in the
built-in issuer's token requests and in HelseID's tokens; fhirclient's own token flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.server import FHIRPermissionDeniedException

from journalloft.faces.fhir.kit import providers_of
from journalloft.platform.plugins.registry import discover_services
from journalloft.platform.plugins.service_protocol import parts_of
from support import SERVICES, client_assertion, people, sample_record, tenant_document, token_form
from support.fhir import FNR, news2_bundle, okt_episode, served, transaction
from support.platform import Backend, TestPlatform, start_platform
from support.security import FakeHelseID, an_hour_ago

pytestmark = pytest.mark.usefixtures("fhir_answers_checked")

ALICE, BOB = people(2, seed="smart-scopes")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
KT_ONLY = "bodo-kt-only"
"""A consumer Bodø granted kommunale-tjenester only."""
HELSEID_KT_ONLY = "3f1e-helseid-kt-only"
HELSEID_NEWS2 = "9a7c-helseid-news2"
SUPPORTED = "supported: system/<type>.rs (read and search), .cud (create, update, delete)"


def installed_types(plugins: list[str] | None = None) -> dict[str, set[str]]:
    """Each resource type the installed services' providers serve, and their services: read
    from the services themselves, not from the face."""
    found: dict[str, set[str]] = {}
    for service in discover_services(plugins or ()):
        for provider in providers_of(parts_of(service, "fhir"), service=service.name):
            found.setdefault(provider.resource_type, set()).add(service.name)
    return found


def expected_scopes(types: dict[str, set[str]]) -> set[str]:
    forms = ("rs", "cud", "cruds", "read", "write", "*")
    return {f"system/{kind}.{form}" for kind in [*types, "*"] for form in forms}


@pytest.fixture(scope="module")
def helseid() -> FakeHelseID:
    return FakeHelseID()


@pytest.fixture(scope="module")
def platform(
    module_backend: Backend, tmp_path_factory: pytest.TempPathFactory, helseid: FakeHelseID
) -> Iterator[TestPlatform]:
    """Bodø, whose journal system ``bodo-epj`` is both a source and a consumer of every service
    (so that a scope, not a grant, decides), ``bodo-kt-only`` and a HelseID client that read
    kommunale-tjenester only, and a HelseID client that reads news2. ALICE has a NEWS2
    measurement and a municipal service."""
    tmp = tmp_path_factory.mktemp("smart")
    jwks = helseid.write_jwks(tmp / "helseid-jwks.json")
    for platform in start_platform(module_backend, tmp, trusted_issuers=[helseid.trusted(jwks)]):
        kt = ["kommunale-tjenester"]
        document = tenant_document(
            "1804",
            extra_consumers=[
                {"client_id": "bodo-epj", "name": "EPJ", "services": list(SERVICES)},
                {"client_id": KT_ONLY, "name": "Legevakt KT", "services": kt},
                {"client_id": HELSEID_KT_ONLY, "name": "Legevakt (HelseID)", "services": kt},
                {"client_id": HELSEID_NEWS2, "name": "Legevakt (HelseID)", "services": ["news2"]},
            ],
        )
        platform.onboard(document)
        at = an_hour_ago()
        for service in ("news2", "kommunale-tjenester"):
            pushed = platform.client.post(
                f"/v1/tenants/1804/{service}/records",
                json={"records": [sample_record(service, f"{service}-1", ALICE, at=at)]},
                headers=platform.headers("bodo-epj", "news2:write kommunale-tjenester:write"),
            )
            assert pushed.status_code == 200, pushed.text
        yield platform


def ask_token(platform: TestPlatform, client_id: str, scope: str) -> httpx2.Response:
    return platform.client.post(
        "/oauth/token",
        data=token_form(
            client_id, platform.key(client_id), audience="http://testserver", scope=scope
        ),
    )


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def fhir_search(platform: TestPlatform, token: str, kind: str) -> httpx2.Response:
    return platform.client.post(
        f"/fhir/{kind}/_search",
        data={"patient:identifier": f"{FNR}|{ALICE}"},
        headers=bearer(token, **FORM),
    )


def native_query(platform: TestPlatform, token: str, service: str) -> httpx2.Response:
    return platform.client.post(
        f"/v1/{service}/query", json={"patients": [ALICE]}, headers=bearer(token)
    )


def fhir_write(platform: TestPlatform, token: str, measurement: str) -> httpx2.Response:
    return platform.client.post(
        "/fhir/1804", json=news2_bundle(BOB, measurement), headers=bearer(token, **FHIR_JSON)
    )


def native_push(platform: TestPlatform, token: str, record_id: str) -> httpx2.Response:
    record = sample_record("news2", record_id, BOB, at=an_hour_ago())
    return platform.client.post(
        "/v1/tenants/1804/news2/records", json={"records": [record]}, headers=bearer(token)
    )


# --- /.well-known/smart-configuration ---------------------------------------------------------


def test_smart_configuration_names_the_issuer_and_the_installed_types_scopes(
    platform: TestPlatform,
) -> None:
    answer = platform.client.get("/fhir/.well-known/smart-configuration")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document = answer.json()
    issuer = platform.client.get("/.well-known/oauth-authorization-server").json()
    assert document["issuer"] == issuer["issuer"] == "http://testserver"
    assert document["token_endpoint"] == issuer["token_endpoint"]
    assert document["jwks_uri"] == issuer["jwks_uri"]
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["grant_types_supported"] == ["client_credentials"]
    algorithms = document["token_endpoint_auth_signing_alg_values_supported"]
    assert {"ES384", "RS384"} <= set(algorithms)  # backend services' required ones
    assert not {"none", "HS256"} & set(algorithms)
    assert set(document["capabilities"]) == {
        "client-confidential-asymmetric",
        "permission-v1",
        "permission-v2",
    }
    assert set(document["scopes_supported"]) == expected_scopes(installed_types())
    assert len(document["scopes_supported"]) == len(set(document["scopes_supported"]))
    # what the built-in issuer's token endpoint and the platform take besides
    assert (
        document["dpop_signing_alg_values_supported"] == issuer["dpop_signing_alg_values_supported"]
    )
    assert document["dpop_bound_access_tokens_required"] is False  # bearer allowed in tests
    assert document["authorization_details_types_supported"] == ["nhn:tillitsrammeverk:parameters"]
    assert "authorization_endpoint" not in document  # no launch, no user
    # the built-in issuer's metadata lists them too
    assert set(document["scopes_supported"]) <= set(issuer["scopes_supported"])


def test_smart_configuration_at_each_municipalitys_base(platform: TestPlatform) -> None:
    everywhere = platform.client.get("/fhir/.well-known/smart-configuration").json()
    at_base = platform.client.get("/fhir/1804/.well-known/smart-configuration")
    assert at_base.status_code == 200
    assert at_base.json() == everywhere
    unknown = platform.client.get("/fhir/9999/.well-known/smart-configuration")
    assert unknown.status_code == 404
    assert unknown.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_names_the_same_token_endpoint(platform: TestPlatform) -> None:
    statement = platform.client.get("/fhir/metadata").json()
    uris = statement["rest"][0]["security"]["extension"][0]["extension"]
    document = platform.client.get("/fhir/.well-known/smart-configuration").json()
    assert {"url": "token", "valueUri": document["token_endpoint"]} in uris


def test_a_new_provider_brings_its_scopes(backend: Backend, tmp_path: Path) -> None:
    """The test plugin ``cave`` serves Flag: its scopes appear, and they read cave."""
    plugins = ["plugin_cave:spec"]
    for platform in start_platform(backend, tmp_path, service_plugins=plugins):
        platform.onboard(tenant_document("1804", services={"news2": {}, "cave": {}}))
        document = platform.client.get("/fhir/.well-known/smart-configuration").json()
        types = installed_types(plugins)
        assert types["Flag"] == {"cave"}
        assert set(document["scopes_supported"]) == expected_scopes(types)
        assert "system/Flag.rs" in document["scopes_supported"]
        token = platform.token("bodo-legevakt", "system/Flag.rs")
        assert native_query(platform, token, "cave").status_code == 200
        assert native_query(platform, token, "news2").status_code == 403
        every = platform.token("bodo-legevakt", "system/*.rs")
        assert native_query(platform, every, "cave").status_code == 200


def test_smart_configuration_names_helseid_when_configured(
    backend: Backend, tmp_path: Path
) -> None:
    helseid = FakeHelseID()
    trusted = {
        **helseid.trusted(helseid.write_jwks(tmp_path / "jwks.json")),
        "token_endpoint": "https://helseid-sts.test.nhn.no/connect/token",
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "ES384"],
    }
    for platform in start_platform(
        backend, tmp_path, trusted_issuers=[trusted], allow_bearer=False
    ):
        document = platform.client.get("/fhir/.well-known/smart-configuration").json()
        assert document["issuer"] == helseid.issuer
        assert document["dpop_bound_access_tokens_required"] is True  # as production
        assert document["token_endpoint"] == "https://helseid-sts.test.nhn.no/connect/token"
        assert document["token_endpoint_auth_signing_alg_values_supported"] == [
            "RS256",
            "RS384",
            "ES384",
        ]
        assert "jwks_uri" not in document  # a file on this closed network, no URL to name
        statement = platform.client.get("/fhir/metadata").json()
        token = statement["rest"][0]["security"]["extension"][0]["extension"][0]
        assert token["valueUri"] == "https://helseid-sts.test.nhn.no/connect/token"


def test_without_any_token_endpoint_there_is_no_configuration(
    backend: Backend, tmp_path: Path
) -> None:
    helseid = FakeHelseID()
    trusted = helseid.trusted(helseid.write_jwks(tmp_path / "jwks.json"))
    for platform in start_platform(
        backend, tmp_path, builtin_issuer=False, trusted_issuers=[trusted]
    ):
        answer = platform.client.get("/fhir/.well-known/smart-configuration")
        assert answer.status_code == 404
        assert "token_endpoint" in answer.json()["issue"][0]["diagnostics"]


# --- the scopes, through the built-in issuer ---------------------------------------------------


def test_observation_rs_reads_news2_on_fhir_and_natively_and_cannot_write(
    platform: TestPlatform,
) -> None:
    answer = ask_token(platform, "bodo-epj", "system/Observation.rs")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "system/Observation.rs"
    token = answer.json()["access_token"]
    found = fhir_search(platform, token, "Observation")
    assert found.status_code == 200, found.text
    assert found.json()["total"] >= 1
    assert native_query(platform, token, "news2").status_code == 200
    for refused in (fhir_write(platform, token, "m-rs"), native_push(platform, token, "n-rs")):
        assert refused.status_code == 403
    # the v1 form is the same
    v1 = platform.token("bodo-epj", "system/Observation.read")
    assert native_query(platform, v1, "news2").status_code == 200
    assert native_push(platform, v1, "n-read").status_code == 403


def test_observation_cud_writes_and_cannot_read(platform: TestPlatform) -> None:
    token = platform.token("bodo-epj", "system/Observation.cud")
    written = fhir_write(platform, token, "m-cud")
    assert written.status_code == 200, written.text
    assert native_push(platform, token, "n-cud").status_code == 200
    assert fhir_search(platform, token, "Observation").status_code == 403
    assert native_query(platform, token, "news2").status_code == 403
    v1 = platform.token("bodo-epj", "system/Observation.write")
    assert native_push(platform, v1, "n-write").status_code == 200
    assert native_query(platform, v1, "news2").status_code == 403


def test_cruds_reads_and_writes(platform: TestPlatform) -> None:
    for scope in ("system/Observation.cruds", "system/Observation.*"):
        token = platform.token("bodo-epj", scope)
        assert native_query(platform, token, "news2").status_code == 200
        assert native_push(platform, token, f"n-{scope[-5:]}").status_code == 200


def test_episode_of_care_rs_reads_episodes_and_not_news2(platform: TestPlatform) -> None:
    token = platform.token("bodo-epj", "system/EpisodeOfCare.rs")
    assert fhir_search(platform, token, "EpisodeOfCare").status_code == 200
    assert native_query(platform, token, "kommunale-tjenester").status_code == 200
    assert fhir_search(platform, token, "Observation").status_code == 403
    assert native_query(platform, token, "news2").status_code == 403


def test_star_rs_reads_every_granted_service_only(platform: TestPlatform) -> None:
    every = platform.token("bodo-epj", "system/*.rs")
    for kind in ("Observation", "EpisodeOfCare", "Condition", "CarePlan"):
        assert fhir_search(platform, every, kind).status_code == 200, kind
    assert native_push(platform, every, "n-star").status_code == 403
    # a client granted kommunale-tjenester only gets the token, and it reads only that
    narrow = ask_token(platform, KT_ONLY, "system/*.rs")
    assert narrow.status_code == 200, narrow.text
    token = narrow.json()["access_token"]
    assert fhir_search(platform, token, "EpisodeOfCare").status_code == 200
    refused = fhir_search(platform, token, "Observation")
    assert refused.status_code == 403
    # Observation is served by kartlegginger and news2 (issue 25): the first refused is named
    diagnostics = refused.json()["issue"][0]["diagnostics"]
    assert "granted this client to read kartlegginger" in diagnostics


def test_a_smart_scope_for_a_service_without_a_grant_is_refused(platform: TestPlatform) -> None:
    refused = ask_token(platform, KT_ONLY, "system/Observation.rs")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert (
        "system/Observation.rs (stands for kartlegginger:read, news2:read: none granted to "
        "this client)" in (refused.json()["error_description"])
    )
    # a consumer cannot get a write scope through SMART either
    write = ask_token(platform, "bodo-legevakt", "system/*.cud")
    assert write.status_code == 400
    assert write.json()["error"] == "invalid_scope"
    # the same client gets the scope of what it is granted
    assert ask_token(platform, KT_ONLY, "system/EpisodeOfCare.rs").status_code == 200


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("launch/patient", "an app launch scope: this server serves backend services only"),
        ("launch", "an app launch scope"),
        ("openid", "an app launch scope"),
        ("patient/*.read", "patient-level scopes are not offered"),
        ("patient/Observation.rs", "patient-level scopes are not offered"),
        ("user/Observation.read", "user-level scopes are not offered"),
        ("system/Observation.r", "the native scopes give read and search together (.rs)"),
        ("system/Observation.cu", "the native scopes give read and search together (.rs)"),
        ("system/Observation.sr", "not a permission: .sr"),
        ("system/Observation.rs?category=vital-signs", "granular scopes"),
        ("system/Patient.rs", "this server serves no Patient"),
        ("system/observation.rs", "not a SMART scope"),
        ("system/Observation", "not a SMART scope"),
    ],
)
def test_scopes_smart_does_not_offer_are_refused_with_the_reason(
    platform: TestPlatform, scope: str, reason: str
) -> None:
    refused = ask_token(platform, "bodo-legevakt", f"{scope} system/Observation.rs")
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_scope"
    assert f"scopes not supported: {scope}: {reason}" in body["error_description"]
    assert SUPPORTED in body["error_description"]
    assert "for CarePlan, Condition, EpisodeOfCare, Observation or *" in (body["error_description"])
    assert "scopes not granted" not in body["error_description"]  # the good one is given


def test_a_scope_of_no_vocabulary_is_refused_as_before(platform: TestPlatform) -> None:
    refused = ask_token(platform, "bodo-legevakt", "news2:write")
    assert refused.json()["error_description"] == "scopes not granted to this client: news2:write"
    unknown = ask_token(platform, "bodo-legevakt", "something")
    assert unknown.json()["error_description"] == "scopes not granted to this client: something"


def test_native_scopes_keep_working(platform: TestPlatform) -> None:
    token = platform.token("bodo-legevakt", "news2:read")
    assert fhir_search(platform, token, "Observation").status_code == 200
    assert fhir_search(platform, token, "EpisodeOfCare").status_code == 403
    both = platform.token("bodo-epj", "news2:read system/EpisodeOfCare.rs")
    assert native_query(platform, both, "news2").status_code == 200
    assert native_query(platform, both, "kommunale-tjenester").status_code == 200
    assert native_query(platform, both, "diagnoser").status_code == 403


# --- the scopes in HelseID's tokens -------------------------------------------------------------


def test_helseid_tokens_with_smart_scopes(platform: TestPlatform, helseid: FakeHelseID) -> None:
    reader = helseid.token(HELSEID_NEWS2, ["system/Observation.rs"])
    assert fhir_search(platform, reader, "Observation").status_code == 200
    assert native_query(platform, reader, "news2").status_code == 200
    assert fhir_search(platform, reader, "EpisodeOfCare").status_code == 403
    # the scope string form, as the built-in issuer writes it
    spaced = helseid.token(HELSEID_NEWS2, "system/Observation.read openid")
    assert native_query(platform, spaced, "news2").status_code == 200
    # a SMART scope gives nothing the municipality has not granted
    ungranted = helseid.token(HELSEID_KT_ONLY, ["system/Observation.rs", "system/*.rs"])
    refused = native_query(platform, ungranted, "news2")
    assert refused.status_code == 403
    assert refused.json()["title"] == "No grant from any municipality"
    assert native_query(platform, ungranted, "kommunale-tjenester").status_code == 200
    # a malformed or unoffered scope in a token gives nothing
    for scope in (["patient/*.read"], ["user/Observation.rs"], ["system/Observation.r"]):
        nothing = helseid.token(HELSEID_NEWS2, scope)
        assert native_query(platform, nothing, "news2").status_code == 403, scope


# --- fhirclient (SMART on FHIR's Python client) -------------------------------------------------


def test_fhirclient_backend_services_token_flow(platform: TestPlatform) -> None:
    """fhirclient finds the token endpoint in the CapabilityStatement at the base, and asks for
    a token with client_credentials and the client assertion it is given. By default it adds
    ``launch/patient``, which is refused with the reason; told it wants no patient, it gets a
    token for its system scope and writes a transaction with it."""
    key = platform.key("bodo-epj")
    with served(platform) as url:
        settings: dict[str, Any] = {
            "app_id": "bodo-epj",
            "api_base": f"{url}/fhir/1804/",
            "jwt_token": client_assertion("bodo-epj", key, audience=url),
            "scope": "system/Observation.cud",
        }
        fhir = smart_client.FHIRClient(settings=settings)
        assert fhir.prepare() is False  # the CapabilityStatement read; no token yet
        with pytest.raises(requests.HTTPError) as refused:
            fhir.authorize()
        assert refused.value.response is not None
        answer = refused.value.response.json()
        assert answer["error"] == "invalid_scope"
        assert "launch/patient: an app launch scope" in answer["error_description"]

        fhir.wants_patient = False
        assert fhir.server.auth is not None
        fhir.server.auth.jwt_token = client_assertion("bodo-epj", key, audience=url)
        fhir.authorize()
        assert fhir.ready
        written = fhir.server.post_json("", news2_bundle(BOB, "m-fhirclient"))
        assert written.status_code == 200
        statuses = {e["response"]["status"] for e in written.json()["entry"]}
        assert statuses == {"201 Created"}
        # the token is the Observation write scope only: an EpisodeOfCare is refused
        with pytest.raises(FHIRPermissionDeniedException) as forbidden:
            fhir.server.post_json("", transaction(okt_episode(ALICE)))
        assert forbidden.value.response.status_code == 403
