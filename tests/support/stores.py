"""A service's tables without a server: SQLite tenant stores migrated for one service, and the
JSON Schemas of the platform and that service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.plugins.service_protocol import SharingService
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.migrations import migrate_tenant

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@contextmanager
def migrated_stores(
    data_dir: Path, spec: SharingService, kommuner: tuple[str, ...] = ("1804",)
) -> Iterator[Stores]:
    """SQLite stores under ``data_dir`` with a tenant store per municipality of ``kommuner``,
    migrated for the service ``spec``; disposed on leaving."""
    stores = Stores(Settings(data_dir=data_dir))
    for kommunenummer in kommuner:
        stores.create_tenant_store(kommunenummer)
        migrate_tenant(stores, kommunenummer, [spec])
    try:
        yield stores
    finally:
        stores.dispose()


def service_schemas(folder: str) -> Schemas:
    """The platform's schemas and those of the service whose folder under ``schemas/`` is
    ``folder`` (e.g. ``kommunale_tjenester``), and no other service's."""
    documents = Schemas.load(SCHEMA_DIR).documents
    return Schemas({k: v for k, v in documents.items() if "/platform/" in k or f"/{folder}/" in k})
