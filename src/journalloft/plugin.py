"""The one door for authors of sharing services: everything a service package may use of the
platform and of the faces, and nothing else.

A service imports from here only (``from journalloft.plugin import ...``), so that the
platform's and the faces' internals can move without breaking a service, and a reader sees the
whole contract in one place. ``docs/services.md`` walks through writing a service with it.

- The protocol: :class:`SharingService` (and :class:`Purgeable` for records that expire), the
  contexts it is called with, :class:`Lookup` and :class:`RecordRejected`.
- Errors: :class:`FieldError`, a JSON Pointer and a message.
- Storage: :class:`SharedRecord` (the columns every record table has: source, record id, patient,
  updated, content hash, received, withdrawn; :func:`shared_record_columns` gives them to a
  service's first migration), :data:`TENANT` (the schema placeholder of tenant
  tables), :func:`utc_field` and :class:`UTCDateTime` (instants stored in UTC on both stores),
  :func:`visible` (not withdrawn) and :func:`among_people` (the platform binds the people);
  :func:`alter_schema`, the schema a migration's ALTER TABLE names.
- Settings: :func:`window_setting`, the one reading of a whole-number window setting.
- Results: :func:`summarise_by_person`, a lookup's entries grouped by person, in the
  service's order, with how many are active.
- Time and people: :data:`OSLO` and :func:`today_in_oslo` (what "today" is in Norway),
  :func:`parse_person_id` (a person id's kind and birth date, e.g. for a demo generator),
  :func:`synthetic_hpr_number` (an HPR number no real person has, for demo data).
- Schemas: :data:`SCHEMA_BASE`, the prefix of every ``$id``; :func:`parse_rfc3339` and
  :func:`optional_date`, the platform's one reading of an RFC 3339 instant and of a
  ``YYYY-MM-DD`` date (every ``date-time`` and ``date`` field of a record is already checked for
  syntax and range before ``prepare`` sees it).
- Faces: :mod:`fhir` (:mod:`journalloft.faces.fhir.kit`: the ``ResourceProvider`` protocol and
  the helpers of a FHIR mapping) and :mod:`board` (:mod:`journalloft.board.parts`: the
  ``BoardPart`` protocol); a service lists its parts on its spec as ``face_parts`` (``{"fhir":
  (provider, ...), "board": (part,)}``). :mod:`faces` (:mod:`journalloft.platform.face`) is for a
  service that brings a whole face of its own (NHN's OKT API, kommunale-tjenester's).
"""

from journalloft.board import parts as board
from journalloft.faces.fhir import kit as fhir
from journalloft.platform import face as faces
from journalloft.platform.core.errors import FieldError
from journalloft.platform.core.identifiers import PersonId, parse_person_id, synthetic_hpr_number
from journalloft.platform.core.instants import OSLO, optional_date, parse_rfc3339, today_in_oslo
from journalloft.platform.core.jsonschemas import SCHEMA_BASE
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    Lookup,
    Purgeable,
    PurgeContext,
    QueryContext,
    RecordRejected,
    SharingService,
    summarise_by_person,
    window_setting,
)
from journalloft.platform.storage.migrations import alter_schema
from journalloft.platform.storage.records import visible
from journalloft.platform.storage.statements import among_people
from journalloft.platform.storage.tables import (
    TENANT,
    SharedRecord,
    UTCDateTime,
    shared_record_columns,
    utc_field,
)

__all__ = [
    "OSLO",
    "SCHEMA_BASE",
    "TENANT",
    "FieldError",
    "IngestContext",
    "Lookup",
    "PersonId",
    "PurgeContext",
    "Purgeable",
    "QueryContext",
    "RecordRejected",
    "SharedRecord",
    "SharingService",
    "UTCDateTime",
    "alter_schema",
    "among_people",
    "board",
    "faces",
    "fhir",
    "optional_date",
    "parse_person_id",
    "parse_rfc3339",
    "shared_record_columns",
    "summarise_by_person",
    "synthetic_hpr_number",
    "today_in_oslo",
    "utc_field",
    "visible",
    "window_setting",
]
