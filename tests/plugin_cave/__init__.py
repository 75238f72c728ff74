"""A fourth sharing service, written only against :mod:`journalloft.plugin`, to prove that a
service needs no change outside its own package: "CAVE" (critical information: allergies, drug
reactions, infection risk). It ships its own schemas and migrations, its FHIR resource
(:mod:`.fhir`: Flag) and its board column (:mod:`.board`), and is registered through
``JOURNALLOFT_SERVICE_PLUGINS=plugin_cave:spec`` instead of an installed entry point; it follows
docs/services.md step by step."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import Field

from journalloft.plugin import (
    SCHEMA_BASE,
    TENANT,
    IngestContext,
    Lookup,
    QueryContext,
    SharedRecord,
    SharingService,
    among_people,
    visible,
)
from plugin_cave import board, fhir

HERE = Path(__file__).parent


class CaveEntry(SharedRecord, table=True):
    __tablename__ = "cave_entry"
    __table_args__ = ({"schema": TENANT},)

    kind: str = Field(max_length=32)
    text: str = Field(max_length=200)


TABLE: Table = CaveEntry.__table__  # type: ignore[attr-defined]
ENTRIES = select(TABLE.c.patient, TABLE.c.record_id, TABLE.c.kind, TABLE.c.text).where(
    among_people(TABLE.c.patient), visible(TABLE)
)


class Cave:
    name: str = "cave"
    title: str = "CAVE"
    version: str = "v1"
    record_schema: str = SCHEMA_BASE + "cave/v1/record.schema.json"
    query_schema: str = SCHEMA_BASE + "cave/v1/query.schema.json"
    result_schema: str = SCHEMA_BASE + "cave/v1/result.schema.json"
    settings_schema: str | None = None
    table: Table = TABLE
    migrations: Path = HERE / "migrations"
    schema_folder: Path | None = HERE / "schemas"
    face_parts: Mapping[str, tuple[object, ...]] = {"fhir": fhir.PROVIDERS, "board": board.PARTS}

    def prepare(self, record: Mapping[str, Any], *, context: IngestContext) -> dict[str, Any]:
        return {"kind": record["kind"], "text": record["text"]}

    def lookup(self, *, context: QueryContext) -> Lookup:
        return Lookup(ENTRIES, {})

    def results(
        self, rows: Sequence[tuple[Any, ...]], *, context: QueryContext
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for patient, record_id, kind, text in sorted(rows, key=lambda r: (r[0], r[1])):
            entry = {"id": record_id, "kind": kind, "text": text}
            found.setdefault(patient, {"entries": []})["entries"].append(entry)
        return found

    def demo_records(
        self, *, rng: random.Random, patients: Sequence[str], now: datetime
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": f"cave-{i}",
                "patient": patient,
                "updated": now.isoformat(),
                "kind": "allergi",
                "text": rng.choice(["Penicillin", "Nøtter", "Lateks"]),
            }
            for i, patient in enumerate(patients)
        ]


spec: SharingService = Cave()
