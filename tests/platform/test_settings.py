import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from journalloft.platform.core.settings import Settings

PG = "postgresql+psycopg://db/journalloft"
PUBLIC = "https://journalloft.example"
HELSEID = [
    {
        "issuer": "https://helseid-sts.nhn.no",
        "audience": "nhn:journalloft",
        "jwks_uri": "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks",
    }
]


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the developer's shell exports must not decide these tests."""
    for name in list(os.environ):
        if name.upper().startswith("JOURNALLOFT_"):
            monkeypatch.delenv(name)


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": PG,
        "redis_url": "redis://redis.kommune.example:6379/0",
        "public_url": PUBLIC,
        "trusted_issuers": HELSEID,
        "audit_seal_key_file": Path("/etc/journalloft/audit-seal.pem"),
    }
    return Settings(**(values | overrides))


def test_development_defaults_are_the_embedded_platform() -> None:
    settings = Settings(environment="development")
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.builtin_issuer is True
    assert settings.allow_bearer is True
    assert settings.allow_synthetic_ids is True


def test_production_is_strict_by_default() -> None:
    settings = production()
    assert settings.builtin_issuer is False
    assert settings.allow_bearer is False
    assert settings.allow_synthetic_ids is False


def test_production_refuses_the_development_key_of_the_built_in_issuer() -> None:
    with pytest.raises(ValidationError, match="development key"):
        production(builtin_issuer=True, trusted_issuers=[])
    explicit = production(
        builtin_issuer=True, issuer_key_file=Path("/etc/journalloft/issuer.jwk"), trusted_issuers=[]
    )
    assert explicit.builtin_issuer is True


def test_production_refuses_the_development_key_of_the_audit_seal() -> None:
    with pytest.raises(ValidationError, match="AUDIT_SEAL_KEY_FILE"):
        production(audit_seal_key_file=None)
    assert production(
        audit_seal_key_file=None,
        audit_seal_interval_seconds=0,
        fhir_key_file=Path("/etc/journalloft/fhir.key"),
    )


def test_production_needs_one_fhir_key_for_every_server() -> None:
    """The FHIR face's logical ids and page links are derived from FHIR_KEY_FILE, else from the
    audit seal key: with neither, each server would make ids the others cannot read."""
    with pytest.raises(ValidationError, match="FHIR_KEY_FILE"):
        production(audit_seal_key_file=None, audit_seal_interval_seconds=0)
    assert production(fhir_key_file=None)  # derived from the audit seal key
    assert production(
        audit_seal_key_file=None, audit_seal_interval_seconds=0, fhir_key_file=Path("/k")
    )


def test_production_needs_a_database_redis_and_an_issuer() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        production(database_url=None)
    with pytest.raises(ValidationError, match="REDIS_URL"):
        production(redis_url=None)
    with pytest.raises(ValidationError, match="trusted issuer"):
        production(trusted_issuers=[])


def test_a_trusted_issuer_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Settings(trusted_issuers=[{"issuer": "https://x", "audience": "a"}])


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNALLOFT_DATABASE_URL", PG)
    monkeypatch.setenv("JOURNALLOFT_PORT", "8123")
    settings = Settings()
    assert settings.database_url == PG
    assert settings.issuer_url == "http://127.0.0.1:8123"


def issuer(jwks_uri: str) -> list[dict[str, str]]:
    return [{"issuer": "https://helseid-sts.nhn.no", "audience": "a", "jwks_uri": jwks_uri}]


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://helseid-sts.nhn.no/.well-known/openid-configuration/jwks",
        "ftp://helseid-sts.nhn.no/jwks",
        "helseid-sts.nhn.no/jwks",
    ],
)
def test_production_refuses_a_jwks_uri_that_is_not_https(jwks_uri: str) -> None:
    with pytest.raises(ValidationError, match="jwks_uri must be an https URL"):
        production(trusted_issuers=issuer(jwks_uri))


def test_production_refuses_a_token_endpoint_that_is_not_https() -> None:
    """The FHIR face names it to SMART clients, who send their client assertions there."""
    named = [{**issuer("https://helseid-sts.nhn.no/jwks")[0]}]
    named[0]["token_endpoint"] = "http://helseid-sts.nhn.no/connect/token"
    with pytest.raises(ValidationError, match="token_endpoint must be an https URL"):
        production(trusted_issuers=named)
    named[0]["token_endpoint"] = "https://helseid-sts.nhn.no/connect/token"
    assert production(trusted_issuers=named).trusted_issuers[0].token_endpoint == (
        "https://helseid-sts.nhn.no/connect/token"
    )


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # the cloud metadata service
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1]",
        "0.0.0.0",
        "localhost",
        "LOCALHOST.",
        "jwks.localhost",
    ],
)
def test_production_refuses_a_jwks_host_on_this_machine_or_its_link(host: str) -> None:
    with pytest.raises(ValidationError, match="loopback or link-local"):
        production(trusted_issuers=issuer(f"https://{host}/jwks"))
    allowed = production(
        trusted_issuers=issuer(f"https://{host}/jwks"), allow_insecure_issuer_urls=True
    )
    assert allowed.trusted_issuers[0].jwks_uri == f"https://{host}/jwks"


@pytest.mark.parametrize("public_url", [None, "http://journalloft.example", "journalloft.example"])
def test_production_needs_an_https_public_url(public_url: str | None) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        production(public_url=public_url)


def test_an_explicit_setting_allows_plain_http_for_a_closed_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNALLOFT_ALLOW_INSECURE_ISSUER_URLS", "true")
    settings = production(
        public_url="http://journalloft.intern", trusted_issuers=issuer("http://10.0.0.5/jwks")
    )
    assert settings.allow_insecure_issuer_urls is True
    assert settings.issuer_url == "http://journalloft.intern"


def test_https_issuers_and_jwks_files_pass_and_development_is_unchanged() -> None:
    settings = production(
        trusted_issuers=[
            *HELSEID,
            {"issuer": "https://idp.intern", "audience": "a", "jwks_file": "/etc/jwks.json"},
        ]
    )
    assert len(settings.trusted_issuers) == 2
    assert settings.allow_insecure_issuer_urls is False
    development = Settings(trusted_issuers=issuer("http://127.0.0.1:8080/jwks"))
    assert development.trusted_issuers[0].jwks_uri == "http://127.0.0.1:8080/jwks"
