"""Alembic, run programmatically: the platform store, and each tenant store on its own."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from journalloft.platform.core.tenancy import tenant_schema_name
from journalloft.platform.plugins.service_protocol import SharingService
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.tables import TENANT


@dataclass(frozen=True, slots=True)
class MigrationReport:
    kommunenummer: str
    before: frozenset[str]
    after: frozenset[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config(stores: Stores, kind: str, services: Iterable[SharingService] = ()) -> Config:
    config = Config()
    location = stores.settings.home / "migrations" / kind
    config.set_main_option("script_location", str(location))
    config.set_main_option("path_separator", "os")
    versions = [str(location / "versions"), *(str(s.migrations) for s in services)]
    config.set_main_option("version_locations", os.pathsep.join(versions))
    return config


@functools.cache
def _heads_of(script_location: str, version_locations: str) -> frozenset[str]:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", version_locations)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _heads(config: Config) -> frozenset[str]:
    """The newest revisions on disk; read once per process (the scripts do not change)."""
    return _heads_of(
        str(config.get_main_option("script_location")),
        str(config.get_main_option("version_locations")),
    )


def _current(connection: Connection, version_table_schema: str | None) -> frozenset[str]:
    context = MigrationContext.configure(
        connection, opts={"version_table_schema": version_table_schema}
    )
    return frozenset(context.get_current_heads())


def migrate_platform(stores: Stores) -> None:
    config = _config(stores, "platform")
    with stores.platform_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def platform_is_current(stores: Stores) -> bool:
    with stores.platform_engine.connect() as connection:
        return _current(connection, None) == _heads(_config(stores, "platform"))


def _version_schema(stores: Stores, kommunenummer: str) -> str | None:
    return tenant_schema_name(kommunenummer) if stores.postgres else None


def migrate_tenant(
    stores: Stores, kommunenummer: str, services: Iterable[SharingService]
) -> MigrationReport:
    """Bring one tenant store to the newest revision of the platform and of every service."""
    config = _config(stores, "tenant", services)
    schema = _version_schema(stores, kommunenummer)
    with stores.tenant_transaction(kommunenummer) as connection:
        before = _current(connection, schema)
        config.attributes["connection"] = connection
        config.attributes["version_table_schema"] = schema
        command.upgrade(config, "heads")
        after = _current(connection, schema)
    return MigrationReport(kommunenummer, before, after)


def tenant_is_current(
    stores: Stores, kommunenummer: str, services: Iterable[SharingService]
) -> bool:
    heads = _heads(_config(stores, "tenant", services))
    with stores.tenant_engine(kommunenummer).connect() as connection:
        return _current(connection, _version_schema(stores, kommunenummer)) == heads


def alter_schema() -> str | None:
    """Inside a tenant migration, the schema to name in ALTER TABLE (``op.add_column``,
    ``op.batch_alter_table``): the tenant's real schema, since Alembic renders ALTER TABLE
    without the connection's ``schema_translate_map`` (CREATE TABLE and CREATE INDEX are
    translated)."""
    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(TENANT, TENANT)
    return schema
