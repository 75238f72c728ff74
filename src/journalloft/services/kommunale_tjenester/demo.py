"""Synthetic municipal services for ``journalloft demo``: what a journal system would send.

Home nursing by zone, safety alarms, practical help, meals, day care, short-term and long-term
stays; the first five people follow a script (one of each status), the rest are random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from journalloft.plugin import OSLO, today_in_oslo


def demo_records(
    *, rng: random.Random, patients: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """Services a Norwegian municipality's journal system could send for these people."""
    return Demo(rng=rng, now=now).records(patients)


class Demo:
    """Synthetic but plausible services: home nursing by zone, safety alarms, stays, day care."""

    ZONES: Final = ("Sentrum", "Nord", "Sør", "Øst", "Vest")
    UNITS: Final = {
        "alarm": "Responssenteret, trygghetsalarm",
        "bistand": "Praktisk bistand, hjemmetjenesten",
        "mat": "Kjøkkentjenesten, matombringing",
        "dag": "Dagsenteret Solstua",
        "korttid": "Korttidsavdelingen, Sentrum helse- og omsorgssenter",
        "rehab": "Rehabiliteringsavdelingen, Sentrum helse- og omsorgssenter",
        "sykehjem": "Langtidsavdelingen, Nordlys sykehjem",
        "fritid": "Fritidstjenesten, støttekontakt",
    }

    def __init__(self, *, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.today = today_in_oslo(now)
        self.prefix = f"EPJ-{rng.randrange(10_000):04d}"
        self.counter = 0
        used: set[str] = set()
        self.phones: dict[str, str] = {}
        for key in [*(f"sone {z}" for z in self.ZONES), *self.UNITS]:
            phone = self._phone()
            while phone in used:
                phone = self._phone()
            used.add(phone)
            self.phones[key] = phone

    def _phone(self) -> str:
        return f"+47 75 55 {self.rng.randint(10, 99)} {self.rng.randint(10, 99)}"

    def _unit(self, key: str) -> dict[str, str]:
        name = f"Hjemmetjenesten {key}" if key.startswith("sone ") else self.UNITS[key]
        return {"name": name, "phone": self.phones[key]}

    def _record(
        self,
        patient: str,
        code: str,
        unit: str,
        *,
        start: int,
        end: int | None = None,
        paused: bool = False,
        description: str | None = None,
        weekly_extent: str | None = None,
        stay_type: str | None = None,
    ) -> dict[str, Any]:
        """``start`` and ``end`` in days from today (negative: in the past)."""
        self.counter += 1
        starts = self.today + timedelta(days=start)
        ends = None if end is None else self.today + timedelta(days=end)
        changed_days_ago = self.rng.randint(0, max(0, min(-start, 60))) if start < 0 else 0
        changed = self.now.astimezone(OSLO) - timedelta(
            days=changed_days_ago, minutes=self.rng.randint(5, 600)
        )
        record: dict[str, Any] = {
            "id": f"{self.prefix}-{self.counter:06d}",
            "patient": patient,
            "updated": changed.replace(microsecond=0).isoformat(),
            "service_code": code,
            "unit": self._unit(unit),
            "start": starts.isoformat(),
            "end": None if ends is None else ends.isoformat(),
            "temporary_cessation": paused,
        }
        if description is not None:
            record["description"] = description
        if weekly_extent is not None:
            record["weekly_extent"] = weekly_extent
        if stay_type is not None:
            record["stay_type"] = stay_type
        return record

    def _home_nursing(
        self, patient: str, *, start: int, paused_for: str | None = None
    ) -> dict[str, Any]:
        zone = f"sone {self.rng.choice(self.ZONES)}"
        what = self.rng.choice(
            [
                "Medisinhåndtering morgen og kveld",
                "Sårstell og kompresjonsstrømper",
                "Insulin morgen, tilsyn kveld",
                "Oppfølging hjertesvikt, vekt og ødemer",
                "Stomistell og personlig hygiene",
            ]
        )
        if paused_for is not None:
            what += f". Pause: {paused_for}"
        return self._record(
            patient,
            self.rng.choice(["15", "015"]),
            zone,
            start=start,
            paused=paused_for is not None,
            description=what,
            weekly_extent=self.rng.choice(["14 besøk", "7 besøk", "2 besøk daglig", "5 timer"]),
        )

    def _alarm(self, patient: str, *, start: int) -> dict[str, Any]:
        return self._record(
            patient, "06", "alarm", start=start, description="Trygghetsalarm med fallsensor"
        )

    def _short_stay(self, patient: str, *, start: int, end: int) -> dict[str, Any]:
        rehab = self.rng.random() < 0.5
        return self._record(
            patient,
            "19" if rehab else "20",
            "rehab" if rehab else "korttid",
            start=start,
            end=end,
            description="Opptrening etter lårhalsbrudd" if rehab else "Avlastning for pårørende",
            stay_type="korttidsopphold",
        )

    def _day_activity(self, patient: str, *, start: int) -> dict[str, Any]:
        return self._record(
            patient,
            "4",
            "dag",
            start=start,
            description="Tilrettelagt dagaktivitetstilbud for personer med demens",
            weekly_extent=self.rng.choice(["2 dager", "3 dager"]),
        )

    def _scripted(self, index: int, patient: str) -> list[dict[str, Any]]:
        """The first few people show every status the legevakt must be able to read."""
        days = self.rng.randint
        if index == 0:
            return [
                self._home_nursing(patient, start=-days(200, 1500)),
                self._alarm(patient, start=-days(300, 2000)),
                self._record(patient, "5", "mat", start=-days(30, 400), weekly_extent="5 middager"),
            ]
        if index == 1:
            return [
                self._home_nursing(
                    patient, start=-days(100, 900), paused_for="innlagt på Nordlandssykehuset"
                ),
                self._alarm(patient, start=-days(100, 900)),
            ]
        if index == 2:
            return [
                self._short_stay(patient, start=-days(25, 40), end=-days(2, 10)),
                self._home_nursing(patient, start=days(1, 7)),
                self._record(
                    patient,
                    "1",
                    "bistand",
                    start=-1200,
                    end=-days(200, 700),
                    weekly_extent="2 timer",
                ),
            ]
        if index == 3:
            return [
                self._day_activity(patient, start=-days(60, 700)),
                self._record(patient, "9", "fritid", start=-days(60, 700), weekly_extent="3 timer"),
            ]
        return [
            self._short_stay(patient, start=-days(2, 10), end=days(5, 20)),
            self._home_nursing(patient, start=-days(100, 900), paused_for="på korttidsopphold"),
        ]

    def _random(self, patient: str) -> list[dict[str, Any]]:
        rng = self.rng
        days = rng.randint
        records = []
        if rng.random() < 0.6:
            paused_for = "innlagt på sykehus" if rng.random() < 0.1 else None
            records.append(self._home_nursing(patient, start=-days(1, 2000), paused_for=paused_for))
        if rng.random() < 0.4:
            records.append(self._alarm(patient, start=-days(1, 3000)))
        if rng.random() < 0.2:
            records.append(
                self._record(patient, "1", "bistand", start=-days(1, 2000), weekly_extent="2 timer")
            )
        if rng.random() < 0.15:
            records.append(self._day_activity(patient, start=-days(1, 1000)))
        if rng.random() < 0.15:
            start = days(-60, 30)
            records.append(self._short_stay(patient, start=start, end=start + days(7, 28)))
        if rng.random() < 0.05:
            records.append(
                self._record(
                    patient,
                    "21",
                    "sykehjem",
                    start=-days(30, 1500),
                    description="Langtidsplass, skjermet enhet",
                )
            )
        if not records:
            records.append(self._alarm(patient, start=-days(1, 3000)))
        return records

    def records(self, patients: Sequence[str]) -> list[dict[str, Any]]:
        result = []
        for index, patient in enumerate(patients):
            found = self._scripted(index, patient) if index < 5 else self._random(patient)
            result.extend(found)
        return result
