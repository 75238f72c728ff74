"""The one door for authors of sharing services: everything a service package may use of the
platform, and nothing else.

A service imports from here only (``from journalloft.platform.plugin import ...``), so that the
platform's internals can move without breaking a service, and a reader sees the whole contract
in one place. ``docs/services.md`` walks through writing a service with it.

- The protocol: :class:`SharingService` (and :class:`Purgeable` for records that expire), the
  contexts it is called with, :class:`Lookup` and :class:`RecordRejected`.
- Errors: :class:`FieldError`, a JSON Pointer and a message.
- Storage: :class:`SharedRecord` (the columns every record table has: source, record id, patient,
  updated, content hash, received, withdrawn), :data:`TENANT` (the schema placeholder of tenant
  tables), :func:`utc_field` and :class:`UTCDateTime` (instants stored in UTC on both stores),
  :func:`visible` (not withdrawn) and :func:`among_people` (the platform binds the people).
- Schemas: :data:`SCHEMA_BASE`, the prefix of every ``$id``.
"""

from journalloft.platform.errors import FieldError
from journalloft.platform.jsonschemas import SCHEMA_BASE
from journalloft.platform.service_protocol import (
    IngestContext,
    Lookup,
    Purgeable,
    PurgeContext,
    QueryContext,
    RecordRejected,
    SharingService,
)
from journalloft.platform.storage.records import visible
from journalloft.platform.storage.statements import among_people
from journalloft.platform.storage.tables import TENANT, SharedRecord, UTCDateTime, utc_field

__all__ = [
    "SCHEMA_BASE",
    "TENANT",
    "FieldError",
    "IngestContext",
    "Lookup",
    "PurgeContext",
    "Purgeable",
    "QueryContext",
    "RecordRejected",
    "SharedRecord",
    "SharingService",
    "UTCDateTime",
    "among_people",
    "utc_field",
    "visible",
]
