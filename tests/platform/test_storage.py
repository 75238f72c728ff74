"""Tenant stores: provisioned by migrations, separate per tenant, removed on offboarding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect

from journalloft.platform.auth.clients import list_clients
from journalloft.platform.plugins.registry import discover_services
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import (
    migrate_platform,
    migrate_tenant,
    platform_is_current,
    tenant_is_current,
)
from journalloft.platform.storage.tables import UTCDateTime
from support.platform import REPO, Backend, make_settings

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


def _platform_config(connection: Connection) -> Config:
    location = REPO / "migrations" / "platform"
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(location / "versions"))
    config.attributes["connection"] = connection
    return config


def test_the_client_owner_migration_gives_existing_clients_the_first_tenant_that_named_them(
    backend: Backend, tmp_path: Path
) -> None:
    """Upgrading a platform store of before client owners: a client belongs to the first tenant
    onboarded that names it (never to one that named it later, as an attacker's file did), or to
    the operator when it is older than that tenant or no tenant names it."""
    stores = Stores(make_settings(backend, tmp_path))
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with stores.platform_engine.begin() as connection:
        command.upgrade(_platform_config(connection), "platform_0001")
    tenant = sa.table(
        "tenant",
        *(sa.column(c) for c in ("kommunenummer", "name", "organisasjonsnummer")),
        sa.column("document", sa.JSON),
        sa.column("onboarded_at", UTCDateTime),
        sa.column("updated_at", UTCDateTime),
    )
    client = sa.table(
        "client",
        sa.column("client_id"),
        sa.column("name"),
        sa.column("admin"),
        sa.column("created_at", UTCDateTime),
    )
    named = {
        "1804": (t0, ["bodo-legevakt", "salten-legevakt", "tavla"]),
        "3201": (t0 + timedelta(days=1), ["baerum-legevakt", "salten-legevakt", "bodo-legevakt"]),
        "7777": (t0 + timedelta(days=2), ["baerum-legevakt"]),
    }
    created = {
        "bodo-legevakt": t0 + timedelta(seconds=1),
        "salten-legevakt": t0 + timedelta(seconds=1),
        "baerum-legevakt": t0 + timedelta(days=1, seconds=1),
        "tavla": t0 - timedelta(days=1),  # the operator added it before Bodø joined
        "ops": t0 - timedelta(days=2),
    }
    with stores.platform_engine.begin() as connection:
        for kommunenummer, (onboarded_at, clients) in named.items():
            document = {"consumers": [{"client_id": c, "name": c} for c in clients]}
            connection.execute(
                tenant.insert().values(
                    kommunenummer=kommunenummer,
                    name=kommunenummer,
                    organisasjonsnummer="974760673",
                    document=document,
                    onboarded_at=onboarded_at,
                    updated_at=onboarded_at,
                )
            )
        for client_id, at in created.items():
            connection.execute(
                client.insert().values(
                    client_id=client_id, name=client_id, admin=False, created_at=at
                )
            )
    migrate_platform(stores)
    assert platform_is_current(stores)
    with stores.platform_engine.connect() as connection:
        owners = {c["client_id"]: c["owner"] for c in list_clients(connection)}
    assert owners == {
        "bodo-legevakt": "1804",
        "salten-legevakt": "1804",
        "baerum-legevakt": "3201",
        "tavla": None,
        "ops": None,
    }
    with stores.platform_engine.begin() as connection:
        command.downgrade(_platform_config(connection), "platform_0001")
    with stores.platform_engine.connect() as connection:
        assert "owner" not in {c["name"] for c in inspect(connection).get_columns("client")}
    migrate_platform(stores)
    assert platform_is_current(stores)
    stores.dispose()
