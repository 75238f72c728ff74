from pathlib import Path

import pytest
import yaml

from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.tenancy import (
    Tenant,
    TenantFileError,
    load_tenant_file,
    tenant_schema_name,
)
from journalloft.platform.plugins.registry import ServiceRegistry, load_services
from support import tenant_document

REPO = Path(__file__).resolve().parents[2]

Registry = tuple[Schemas, ServiceRegistry]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_services(Settings(home=REPO, environment="test"))


def write(tmp_path: Path, document: object, name: str = "tenant.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def load(path: Path, registry: Registry) -> Tenant:
    schemas, services = registry
    return load_tenant_file(path, schemas=schemas, services=services.settings_schemas())


@pytest.mark.parametrize(
    ("name", "adopted"),
    [
        (
            "bodo.yaml",
            {"kommunale-tjenester", "news2", "diagnoser", "kartlegginger", "tiltaksplan"},
        ),
        # Bærum has adopted neither diagnoser nor kartlegginger
        ("baerum.yaml", {"kommunale-tjenester", "news2", "tiltaksplan"}),
    ],
)
def test_shipped_pilot_files_are_valid(name: str, adopted: set[str], registry) -> None:  # type: ignore[no-untyped-def]
    tenant = load(REPO / "tenants" / name, registry)
    assert set(tenant.services) == adopted
    assert len(tenant.sources) == len(tenant.consumers) == len(tenant.operators) == 1


def test_pilot_identities_are_right(registry) -> None:  # type: ignore[no-untyped-def]
    bodo = load(REPO / "tenants" / "bodo.yaml", registry)
    baerum = load(REPO / "tenants" / "baerum.yaml", registry)
    assert (bodo.kommunenummer, bodo.organisasjonsnummer) == ("1804", "972418013")
    assert (baerum.kommunenummer, baerum.organisasjonsnummer) == ("3201", "935478715")


@pytest.mark.parametrize(
    ("change", "pointer", "reason"),
    [
        ({"kommunenummer": "18O4"}, "/kommunenummer", "expected form"),
        ({"kommunenummer": "0000"}, "/kommunenummer", "expected form"),
        ({"organisasjonsnummer": "972418014"}, "/organisasjonsnummer", "check digit"),
        ({"services": {"news3": {}}}, "/services/news3", "unknown service"),
        ({"name": ""}, "/name", "at least 1"),
        (
            {"services": {"news2": {"retention_days": 0}}},
            "/services/news2/retention_days",
            "at least 1",
        ),
        (
            {"services": {"news2": {"retension_days": 9}}},
            "/services/news2/retension_days",
            "not allowed",
        ),
        ({"colour": "blue"}, "/colour", "not allowed"),
    ],
)
def test_a_bad_file_is_refused_with_file_field_and_reason(
    tmp_path: Path,
    registry: Registry,
    change: dict[str, object],
    pointer: str,
    reason: str,
) -> None:
    document = {**tenant_document("1804"), **change}
    path = write(tmp_path, document)
    with pytest.raises(TenantFileError) as caught:
        load(path, registry)
    message = str(caught.value)
    assert str(path) in message
    assert pointer in message
    assert reason in message


def test_a_grant_for_a_service_the_tenant_has_not_adopted_is_refused(
    tmp_path: Path,
    registry: Registry,
) -> None:
    document = tenant_document("1804", services={"news2": {}})
    document["consumers"][0]["services"] = ["news2", "kommunale-tjenester"]
    with pytest.raises(TenantFileError, match=r"/consumers/0/services/1: kommunale-tjenester"):
        load(write(tmp_path, document), registry)


def test_private_keys_in_a_tenant_file_are_refused(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    document = tenant_document("1804")
    document["sources"][0]["jwks"] = {"keys": [{"kty": "EC", "d": "secret", "crv": "P-256"}]}
    with pytest.raises(TenantFileError, match="/sources/0/jwks/keys/0"):
        load(write(tmp_path, document), registry)


def test_not_yaml_and_missing_files_are_reported(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.yaml"
    broken.write_text("kommunenummer: [1804", encoding="utf-8")
    with pytest.raises(TenantFileError, match=r"broken\.yaml: /: not valid YAML"):
        load(broken, registry)
    with pytest.raises(TenantFileError, match=r"missing\.yaml"):
        load(tmp_path / "missing.yaml", registry)


def test_schema_names_are_built_from_valid_kommunenummer_only() -> None:
    assert tenant_schema_name("1804") == "tenant_1804"
    for bad in ["1804; drop", "180", "0000", "18045", "tenant"]:
        with pytest.raises(ValueError, match="four digits"):
            tenant_schema_name(bad)


@pytest.mark.parametrize(
    "kommunenummer",
    ["1804; DROP TABLE x", "180", "18045", "0000", "abcd", "1804 ", "tenant_1804", "١٨٠٤"],
)
def test_a_schema_name_in_sql_text_comes_only_from_a_valid_kommunenummer(
    kommunenummer: str,
) -> None:
    """The query path writes the tenant's schema into its SQL text (for speed); it takes a
    kommunenummer, never a schema name, and refuses anything but four ASCII digits."""
    from journalloft.platform.operations.restrictions import RESTRICTED_AMONG
    from journalloft.platform.storage.statements import StatementCompiler

    compiled = StatementCompiler.for_backend(postgres=True)(RESTRICTED_AMONG)
    assert "tenant_1804.restriction" in compiled.text_for("1804")
    with pytest.raises(ValueError, match="four digits"):
        compiled.text_for(kommunenummer)
