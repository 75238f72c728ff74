"""The public JSON Schemas hold to the instruments' table (instruments.py): a new instrument, band
or item range is named in the schemas too, or this fails."""

from __future__ import annotations

import json
from typing import Any

from journalloft.services.kartlegginger import spec
from journalloft.services.kartlegginger.instruments import INSTRUMENTS

assert spec.schema_folder is not None
FOLDER = spec.schema_folder / "kartlegginger" / "v1"


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((FOLDER / f"{name}.schema.json").read_text("utf-8"))
    return found


def test_the_record_schema_names_every_instrument_and_band() -> None:
    properties = schema("record")["properties"]
    assert properties["instrument"]["enum"] == list(INSTRUMENTS)
    bands = {b for i in INSTRUMENTS.values() for b in (*i.bands, *i.recorded_bands)}
    assert set(properties["band"]["enum"]) == bands | {None}


def test_the_record_schema_bounds_hold_every_instrument() -> None:
    properties = schema("record")["properties"]
    total, items = properties["total"], properties["items"]
    for instrument in INSTRUMENTS.values():
        if instrument.total_range is not None:
            low, high = instrument.total_range
            assert total["minimum"] <= low, instrument.code
            assert high <= total["maximum"], instrument.code
        assert len(instrument.items) <= items["maxProperties"], instrument.code
        for scores in instrument.items.values():
            score = items["additionalProperties"]
            assert score["minimum"] <= min(scores)
            assert max(scores) <= score["maximum"]


def test_the_result_schema_names_every_instrument_in_the_lookup_order() -> None:
    instruments = schema("result")["properties"]["instruments"]
    assert instruments["items"]["properties"]["instrument"]["enum"] == list(INSTRUMENTS)
    assert ", ".join(INSTRUMENTS) in instruments["description"]
