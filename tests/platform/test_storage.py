"""Tenant stores: provisioned by migrations, separate per tenant, removed on offboarding."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from conftest import Backend, make_settings
from journalloft.platform.registry import discover_services
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import (
    migrate_platform,
    migrate_tenant,
    platform_is_current,
    tenant_is_current,
)

SERVICES = discover_services()


def tables(stores: Stores, kommunenummer: str) -> set[str]:
    with stores.tenant_engine(kommunenummer).connect() as connection:
        schema = f"tenant_{kommunenummer}" if stores.postgres else None
        return set(inspect(connection).get_table_names(schema=schema))


def test_a_new_store_is_built_by_the_migrations(backend: Backend, tmp_path: Path) -> None:
    stores = Stores(make_settings(backend, tmp_path))
    migrate_platform(stores)
    assert platform_is_current(stores)
    stores.create_tenant_store("1804")
    report = migrate_tenant(stores, "1804", SERVICES)
    assert report.before == frozenset()
    assert len(report.after) == 1 + len(SERVICES)  # one head per branch
    assert tenant_is_current(stores, "1804", SERVICES)
    assert {"audit_event", "restriction", "news2_measurement", "kommunal_tjeneste"} <= tables(
        stores, "1804"
    )
    assert not migrate_tenant(stores, "1804", SERVICES).changed
    stores.dispose()


def test_adding_a_service_migrates_a_populated_store_and_keeps_its_data(
    backend: Backend, tmp_path: Path
) -> None:
    """A store made before a service existed gains its tables; what it held stays."""
    stores = Stores(make_settings(backend, tmp_path))
    migrate_platform(stores)
    stores.create_tenant_store("1804")
    older = [s for s in SERVICES if s.name == "kommunale-tjenester"]
    migrate_tenant(stores, "1804", older)
    assert "news2_measurement" not in tables(stores, "1804")
    from datetime import UTC, datetime

    from journalloft.platform.storage.models import Restriction

    with stores.tenant_transaction("1804") as connection:
        connection.execute(
            Restriction.__table__.insert().values(  # type: ignore[attr-defined]
                patient="12913230572", restricted_at=datetime.now(UTC), restricted_by="test"
            )
        )
    assert not tenant_is_current(stores, "1804", SERVICES)
    report = migrate_tenant(stores, "1804", SERVICES)
    assert report.changed
    assert "news2_measurement" in tables(stores, "1804")
    with stores.tenant_engine("1804").connect() as connection:
        kept = connection.execute(Restriction.__table__.select()).all()  # type: ignore[attr-defined]
    assert [row.patient for row in kept] == ["12913230572"]
    stores.dispose()


def test_tenant_stores_are_separate_and_offboarding_removes_one(
    backend: Backend, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from journalloft.platform.storage.models import Restriction

    stores = Stores(make_settings(backend, tmp_path))
    migrate_platform(stores)
    for kommunenummer in ("1804", "3201"):
        stores.create_tenant_store(kommunenummer)
        migrate_tenant(stores, kommunenummer, SERVICES)
    with stores.tenant_transaction("1804") as connection:
        connection.execute(
            Restriction.__table__.insert().values(  # type: ignore[attr-defined]
                patient="12913230572", restricted_at=datetime.now(UTC), restricted_by="test"
            )
        )
    with stores.tenant_engine("3201").connect() as connection:
        assert connection.execute(Restriction.__table__.select()).all() == []  # type: ignore[attr-defined]
    stores.drop_tenant_store("1804")
    assert not stores.tenant_store_exists("1804")
    assert stores.tenant_store_exists("3201")
    stores.dispose()


def test_tenant_engines_share_a_server_pool_or_have_their_own_file(
    backend: Backend, tmp_path: Path
) -> None:
    """PostgreSQL: every tenant on one server shares one pool (357 tenants, not 357 pools).
    SQLite: each tenant reaches exactly its own file."""
    stores = Stores(make_settings(backend, tmp_path))
    tenants = ("1804", "3201", "5501")
    if stores.postgres:
        pools = {stores.tenant_engine(k).pool for k in tenants}
        assert pools == {stores.platform_engine.pool}
    else:
        files = [stores.tenant_engine(k).url.database for k in tenants]
        assert files == [str(stores.sqlite_path(k)) for k in tenants]
    stores.dispose()
