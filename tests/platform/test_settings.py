from pathlib import Path

import pytest
from pydantic import ValidationError

from journalloft.platform.settings import Settings

PG = "postgresql+psycopg://db/journalloft"
HELSEID = [
    {
        "issuer": "https://helseid-sts.nhn.no",
        "audience": "nhn:journalloft",
        "jwks_uri": "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks",
    }
]


def test_development_defaults_are_the_embedded_platform() -> None:
    settings = Settings(environment="development")
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.builtin_issuer is True
    assert settings.allow_bearer is True
    assert settings.allow_synthetic_ids is True


def test_production_is_strict_by_default() -> None:
    settings = Settings(environment="production", database_url=PG, trusted_issuers=HELSEID)
    assert settings.builtin_issuer is False
    assert settings.allow_bearer is False
    assert settings.allow_synthetic_ids is False


def test_production_refuses_the_development_key_of_the_built_in_issuer() -> None:
    with pytest.raises(ValidationError, match="development key"):
        Settings(environment="production", database_url=PG, builtin_issuer=True)
    explicit = Settings(
        environment="production",
        database_url=PG,
        builtin_issuer=True,
        issuer_key_file=Path("/etc/journalloft/issuer.jwk"),
    )
    assert explicit.builtin_issuer is True


def test_production_needs_a_database_and_an_issuer() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(environment="production", trusted_issuers=HELSEID)
    with pytest.raises(ValidationError, match="trusted issuer"):
        Settings(environment="production", database_url=PG)


def test_a_trusted_issuer_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Settings(trusted_issuers=[{"issuer": "https://x", "audience": "a"}])


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNALLOFT_DATABASE_URL", PG)
    monkeypatch.setenv("JOURNALLOFT_PORT", "8123")
    settings = Settings()
    assert settings.database_url == PG
    assert settings.issuer_url == "http://127.0.0.1:8123"
