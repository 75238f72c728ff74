"""Synthetic assessments for ``journalloft demo``: what a municipal EPJ would send.

Each person gets a few instruments, each assessed two or three times over the last four years
(so the lookup shows a change, and one assessment lies outside the default window of three
years): IPLOS at a service decision, MST at the start of home care, MNA-SF, MMSE-NR3, Braden,
fall risk as assessed, MOBID-2 in a nursing home. Items are drawn within each instrument's
ranges and the totals are their sums, so every record passes the platform's rules; units and
notes are made up, HPR numbers obviously synthetic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from journalloft.plugin import synthetic_hpr_number, today_in_oslo
from journalloft.services.kartlegginger.instruments import INSTRUMENTS

UNITS = (
    "Hjemmetjenesten sone Sentrum",
    "Hjemmetjenesten sone Nord",
    "Sykehjemmet, avdeling 2",
    "Helsehuset, korttidsavdelingen",
)
NOTES = {
    "mst": "Vektes månedlig.",
    "fall-risk": "Bruker rullator; falt på badet i fjor.",
    "mobid-2": "Smerteuttrykk ved forflytning.",
    "braden": "Trykkavlastende madrass.",
}


def _items(rng: random.Random, code: str) -> dict[str, int]:
    instrument = INSTRUMENTS[code]
    skipped = {rng.choice(group) for group in instrument.either}
    items = {
        name: rng.choice(scores) for name, scores in instrument.items.items() if name not in skipped
    }
    if instrument.partial_items:
        items = {name: score for name, score in items.items() if rng.random() < 0.8} or items
    return items


def _assessment(rng: random.Random, code: str) -> dict[str, Any]:
    instrument = INSTRUMENTS[code]
    if code == "fall-risk":
        return {"band": rng.choice(instrument.recorded_bands)}
    if code == "mobid-2":
        return {"items": _items(rng, code), "total": rng.randint(0, 8)}
    if code in ("mst", "mmse-nr3") and rng.random() < 0.3:
        # the EPJ sent the total only
        return {"total": sum(_items(rng, code).values())}
    return {"items": _items(rng, code)}


def demo_records(
    *, rng: random.Random, patients: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """Two or three assessments of three to five instruments for each person."""
    today = today_in_oslo(now)
    records: list[dict[str, Any]] = []
    for p, patient in enumerate(patients):
        unit = rng.choice(UNITS)
        for code in rng.sample(list(INSTRUMENTS), rng.randint(3, 5)):
            ages = sorted(rng.sample(range(10, 1460), rng.randint(2, 3)))
            for n, age in enumerate(ages):
                assessed = today - timedelta(days=age)
                record: dict[str, Any] = {
                    "id": f"KART-{p:04d}-{code}-{n}",
                    "patient": patient,
                    "updated": f"{assessed.isoformat()}T15:30:00+01:00",
                    "instrument": code,
                    "assessed": assessed.isoformat(),
                    "assessed_by": {"unit": unit},
                    **_assessment(rng, code),
                }
                if rng.random() < 0.5:
                    record["assessed_by"]["hpr"] = synthetic_hpr_number(rng)
                if code in NOTES and rng.random() < 0.5:
                    record["note"] = NOTES[code]
                records.append(record)
    return records
