"""Synthetic plans of measures for ``journalloft demo``: what a home-care journal system sends.

Each person gets a plan of two to five measures from a small catalogue (medicines morning and
evening, morning care, meals, a supervision visit at night, wound care every third day, a walk),
from the zone's home-care team with its phone; one in five plans is on hold (a hospital stay) and
some carry a measure that was completed last week.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from journalloft.plugin import today_in_oslo

CATALOGUE: Final[tuple[tuple[str, str, dict[str, Any], str, str], ...]] = (
    (
        "Medisinering morgen og kveld",
        "medication",
        {"times": ["08:00", "20:00"]},
        "Dosett fra multidose. Observer at medisinene tas.",
        "Tar medisinene sine som forskrevet",
    ),
    (
        "Morgenstell",
        "personal-care",
        {"times": ["07:30"]},
        "Hjelp til dusj tirsdag og fredag, ellers vask ved vask.",
        "Ivaretatt personlig hygiene",
    ),
    (
        "Dusj",
        "personal-care",
        {"times": ["10:00"], "weekdays": ["tue", "fri"]},
        "Dusjstol på badet. Trenger hjelp med ryggen.",
        "Ivaretatt personlig hygiene",
    ),
    (
        "Tilsyn natt",
        "supervision",
        {"times": ["23:00", "03:00"]},
        "Se til at hun ligger trygt. Ring ved uro.",
        "Trygghet om natten",
    ),
    (
        "Sårstell venstre legg",
        "wound-care",
        {"times": ["11:00"], "every_days": 3},
        "Skift bandasje etter prosedyre. Vurder sårkanter.",
        "Leget sår",
    ),
    (
        "Middag og væske",
        "nutrition",
        {"times": ["14:00"], "text": "Varm mat fra kjøkkentjenesten"},
        "Minst 1,5 liter drikke per døgn. Vei hver mandag.",
        "Stabil vekt",
    ),
    (
        "Gåtur med rullator",
        "mobilisation",
        {"text": "Når været tillater det"},
        "Minst 10 minutter. Hoftebeskytter på.",
        "Opprettholde gangfunksjon",
    ),
    (
        "Blodsukkermåling",
        "observation",
        {"times": ["07:45"], "weekdays": ["mon", "wed", "fri"]},
        "Ring fastlege ved verdi under 4 eller over 20.",
        "Stabilt blodsukker",
    ),
)
ZONES: Final = ("Sentrum", "Nord", "Sør", "Øst", "Vest")


def demo_records(
    *, rng: random.Random, patients: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """A plan a home-care journal system could send for each of these people."""
    today = today_in_oslo(now)
    prefix = f"EPJ-{rng.randrange(10_000):04d}-T"
    phones = {z: f"+47 75 55 {rng.randint(10, 99)} {rng.randint(10, 99)}" for z in ZONES}
    records: list[dict[str, Any]] = []
    for patient in patients:
        zone = rng.choice(ZONES)
        unit = {"name": f"Hjemmetjenesten sone {zone}", "phone": phones[zone]}
        on_hold = rng.random() < 0.2
        start = today - timedelta(days=rng.randint(10, 400))
        for title, category, schedule, description, goal in rng.sample(
            CATALOGUE, rng.randint(2, 5)
        ):
            records.append(
                {
                    "id": f"{prefix}{len(records) + 1:06d}",
                    "patient": patient,
                    "updated": (now - timedelta(hours=rng.randint(1, 240))).isoformat(),
                    "title": title,
                    "category": category,
                    "description": description,
                    "schedule": schedule,
                    "unit": unit,
                    "start": start.isoformat(),
                    "end": None,
                    "status": "on-hold" if on_hold else "active",
                    "goal": goal,
                }
            )
        if rng.random() < 0.3:
            ended = today - timedelta(days=rng.randint(1, 7))
            records.append(
                {
                    "id": f"{prefix}{len(records) + 1:06d}",
                    "patient": patient,
                    "updated": (now - timedelta(days=(today - ended).days)).isoformat(),
                    "title": "Øyedråper",
                    "category": "medication",
                    "description": "Kur avsluttet.",
                    "schedule": {"times": ["09:00", "21:00"]},
                    "unit": unit,
                    "start": (ended - timedelta(days=14)).isoformat(),
                    "end": ended.isoformat(),
                    "status": "completed",
                    "goal": None,
                }
            )
    return records
