"""The vital signs are listed once (``scoring.VITAL_SIGNS``, the fields of ``Vitals``): the
record, the row, the board's measurement and the demo are built from the list, and what must stay
declared (the table, the migrations, the JSON Schemas of the public contract and the typed shapes)
is held to it here, so that a vital sign added to the list and forgotten elsewhere fails a test
that names the place."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import get_type_hints

from journalloft.plugin import IngestContext
from journalloft.services.news2 import spec
from journalloft.services.news2.models import Measurement
from journalloft.services.news2.scoring import VITAL_SIGNS
from journalloft.services.news2.shapes import MeasurementOut, MeasurementRow, News2Record
from support import people
from support.platform import REPO

SCHEMAS = REPO / "schemas" / "news2" / "v1"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_the_table_stores_every_vital_sign() -> None:
    columns = [column.name for column in Measurement.__table__.columns]  # type: ignore[attr-defined]
    assert [c for c in columns if c in VITAL_SIGNS] == list(VITAL_SIGNS)


def test_the_row_reads_them_in_the_lists_order() -> None:
    start = MeasurementRow._fields.index(VITAL_SIGNS[0])
    assert MeasurementRow._fields[start : start + len(VITAL_SIGNS)] == VITAL_SIGNS


def test_the_public_schemas_name_every_vital_sign() -> None:
    record = json.loads((SCHEMAS / "record.schema.json").read_text(encoding="utf-8"))
    assert set(VITAL_SIGNS) <= set(record["properties"])
    result = json.loads((SCHEMAS / "result.schema.json").read_text(encoding="utf-8"))
    measurement = json.dumps(result)
    for name in VITAL_SIGNS:
        assert f'"{name}"' in measurement, f"result.schema.json lacks {name}"


def test_the_typed_shapes_name_every_vital_sign() -> None:
    for shape in (News2Record, MeasurementOut):
        assert set(VITAL_SIGNS) <= set(get_type_hints(shape)), shape.__name__


def test_the_demo_and_the_board_carry_every_vital_sign() -> None:
    patients = people(3, seed="news2-fields")
    records = spec.demo_records(rng=random.Random(1), patients=patients, now=NOW)
    assert all(set(VITAL_SIGNS) <= set(record) for record in records)
    context = IngestContext(kommunenummer="1804", source="demo", now=NOW, settings={})
    values = spec.prepare(records[0], context=context)
    assert set(VITAL_SIGNS) <= set(values)
