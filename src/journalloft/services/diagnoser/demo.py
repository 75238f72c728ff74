"""Synthetic diagnoses for ``journalloft demo``: what a municipal journal system would send.

Each person gets diagnoses that fit the age their (synthetic) person id encodes: the oldest get
the combinations a legevakt meets at night (diabetes, heart failure and dementia together, atrial
fibrillation, a hip fracture and a pneumonia that are over), younger people asthma, epilepsy,
type 1 diabetes or a depression in remission. The three oldest people show every case a lookup
must handle: ICD-10 sent with a dot, provisional and differential diagnoses, a refuted one, one
entered in error, one resolved outside the window, and codes a municipality may exclude
(alcohol dependence). Units and notes are made up; HPR numbers are obviously synthetic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from journalloft.plugin import OSLO, parse_person_id, synthetic_hpr_number, today_in_oslo

UNITS = (
    "Hjemmetjenesten sone Sentrum",
    "Hjemmetjenesten sone Nord",
    "Hjemmetjenesten sone Sør",
    "Helsehuset, korttidsavdelingen",
    "Sykehjemmet, avdeling 2",
    "Omsorgsboliger, Sentrum",
)


@dataclass(frozen=True, slots=True)
class Condition:
    system: str
    code: str
    display: str
    notes: tuple[str, ...] = ()


T90 = Condition(
    "icpc-2",
    "T90",
    "Diabetes type 2",
    ("Tablettbehandlet. Blodsukker måles ved behov.", "Insulin morgen og kveld."),
)
K77 = Condition(
    "icpc-2", "K77", "Hjertesvikt", ("Daglig vekt; ring lege ved økning over 2 kg på tre døgn.",)
)
P70 = Condition(
    "icpc-2",
    "P70",
    "Demens",
    ("Kan bli urolig og forvirret om kvelden.", "Moderat grad. Kjenner igjen faste pleiere."),
)
K78 = Condition("icpc-2", "K78", "Atrieflimmer/-flutter", ("Bruker blodfortynnende.",))
K86 = Condition("icpc-2", "K86", "Hypertensjon ukomplisert")
L95 = Condition("icpc-2", "L95", "Osteoporose")
R95 = Condition("icpc-2", "R95", "Kronisk obstruktiv lungesykdom", ("Hjemme-oksygen 2 l/min.",))
N87 = Condition("icpc-2", "N87", "Parkinsonisme")
K74 = Condition("icpc-2", "K74", "Angina pectoris")
S97 = Condition("icpc-2", "S97", "Kronisk leggsår", ("Sårstell to ganger i uken.",))
R81 = Condition("icpc-2", "R81", "Lungebetennelse")
U71 = Condition("icpc-2", "U71", "Urinveisinfeksjon")
L75 = Condition("icpc-2", "L75", "Lårhalsbrudd", ("Operert, går med rullator.",))
K90 = Condition("icpc-2", "K90", "Hjerneslag")
R96 = Condition("icpc-2", "R96", "Astma")
N88 = Condition("icpc-2", "N88", "Epilepsi", ("Anfallsfri siste år.",))
T89 = Condition("icpc-2", "T89", "Diabetes type 1", ("Insulinpumpe.",))
P76 = Condition("icpc-2", "P76", "Depresjon")
P15 = Condition("icpc-2", "P15", "Kronisk alkoholmisbruk")
I500 = Condition("icd-10", "I50.0", "Kongestiv hjertesvikt")
E119 = Condition("icd-10", "E11.9", "Diabetes mellitus type 2 uten komplikasjoner")
G301 = Condition("icd-10", "G30.1", "Alzheimers sykdom med sen debut")
N184 = Condition("icd-10", "N184", "Kronisk nyresykdom, stadium 4")
F059 = Condition("icd-10", "F05.9", "Delirium, uspesifisert")
F102 = Condition(
    "icd-10", "F10.2", "Psykiske lidelser og atferdsforstyrrelser som skyldes bruk av alkohol"
)
S720 = Condition("icd-10", "S72.0", "Brudd på lårhals")

OLD_CHRONIC = (K78, K86, L95, R95, N87, K74, S97, N184)
MIDDLE_CHRONIC = (T90, K86, R95, K74, P76, R96)
YOUNG_CHRONIC = (R96, N88, T89, P76)
OVER = (R81, U71, L75, S720)


def birth_year(patient: str) -> int | None:
    """The birth year a person id encodes, read by the platform's parser (None for an
    FH-nummer, which encodes none, or for what is not a valid person id)."""
    try:
        born = parse_person_id(patient, allow_synthetic=True).birth_date
    except ValueError:
        return None
    return None if born is None else born.year


def _age(patient: str, today: date) -> int | None:
    born = birth_year(patient)
    return None if born is None else today.year - born


class _Demo:
    def __init__(self, *, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now.replace(microsecond=0)
        self.today = today_in_oslo(now)
        self.prefix = f"EPJ-{rng.randrange(10_000):04d}"
        self.counter = 0

    def _days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    def record(
        self,
        patient: str,
        condition: Condition,
        *,
        clinical: str | None = "active",
        verification: str = "confirmed",
        onset: date | None = None,
        abatement: date | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """One record; ``updated`` falls after its dates and before now."""
        self.counter += 1
        latest = max((d for d in (onset, abatement) if d is not None), default=None)
        earliest = max(latest or self.today - timedelta(days=900), self.today - timedelta(days=900))
        changed_on = earliest + timedelta(days=self.rng.randint(0, (self.today - earliest).days))
        changed = datetime.combine(changed_on, time(8), OSLO) + timedelta(
            minutes=self.rng.randint(0, 600)
        )
        changed = min(changed, self.now.astimezone(OSLO))
        recorded_by: dict[str, Any] = {"unit": self.rng.choice(UNITS)}
        if self.rng.random() < 0.6:
            recorded_by["hpr"] = synthetic_hpr_number(self.rng)
        if note is None and condition.notes and self.rng.random() < 0.7:
            note = self.rng.choice(condition.notes)
        record: dict[str, Any] = {
            "id": f"{self.prefix}-D{self.counter:06d}",
            "patient": patient,
            "updated": changed.replace(microsecond=0).isoformat(),
            "code": {
                "system": condition.system,
                "code": condition.code,
                "display": condition.display,
            },
            "clinical_status": clinical,
            "verification_status": verification,
            "recorded_by": recorded_by,
        }
        if onset is not None:
            record["onset"] = onset.isoformat()
        if abatement is not None:
            record["abatement"] = abatement.isoformat()
        if note is not None:
            record["note"] = note
        return record

    def chronic(self, patient: str, condition: Condition, **fields: Any) -> dict[str, Any]:
        onset = self._days_ago(200, 5000) if self.rng.random() < 0.8 else None
        return self.record(patient, condition, onset=onset, **fields)

    def over(self, patient: str, condition: Condition, *, within_days: int) -> dict[str, Any]:
        abatement = self._days_ago(10, within_days)
        onset = abatement - timedelta(days=self.rng.randint(5, 60))
        return self.record(
            patient, condition, clinical="resolved", onset=onset, abatement=abatement
        )

    def scripted(self, rank: int, patient: str) -> list[dict[str, Any]]:
        """The three oldest people: every case a lookup must handle."""
        if rank == 0:
            return [
                self.chronic(patient, T90),
                self.chronic(patient, K77),
                self.record(patient, P70, onset=self._days_ago(300, 1500)),
                self.chronic(patient, K78),
                self.over(patient, R81, within_days=300),
                self.over(patient, L75, within_days=1200),
                self.record(
                    patient,
                    K90,
                    clinical="resolved",
                    verification="refuted",
                    note="Mistanke om hjerneslag avkreftet ved CT.",
                ),
                self.record(patient, K77, clinical=None, verification="entered-in-error"),
                self.record(
                    patient,
                    U71,
                    clinical="resolved",
                    onset=self.today - timedelta(days=7 * 365 + 20),
                    abatement=self.today - timedelta(days=7 * 365),
                ),
            ]
        if rank == 1:
            return [
                self.chronic(patient, I500),
                self.chronic(patient, E119),
                self.record(patient, G301, onset=self._days_ago(400, 2000)),
                self.record(
                    patient,
                    F059,
                    verification="differential",
                    onset=self._days_ago(1, 3),
                    note="Akutt forvirring siste døgn; delirium eller forverring av demens.",
                ),
                self.chronic(patient, N184),
                self.chronic(patient, F102),
                self.over(patient, S720, within_days=900),
            ]
        return [
            self.record(
                patient,
                P70,
                verification="provisional",
                onset=self._days_ago(30, 200),
                note="Under utredning for demens.",
            ),
            self.chronic(patient, P15),
            self.record(
                patient,
                S97,
                clinical="remission",
                onset=self._days_ago(400, 800),
                abatement=self._days_ago(20, 100),
            ),
            self.chronic(patient, K86),
        ]

    def by_age(self, patient: str, age: int | None) -> list[dict[str, Any]]:
        rng = self.rng
        if age is not None and age >= 75:
            records = [self.chronic(patient, c) for c in rng.sample(OLD_CHRONIC, rng.randint(1, 3))]
            triad = rng.sample((T90, K77, P70), rng.randint(1, 3))
            records += [self.chronic(patient, c) for c in triad]
        elif age is None or age >= 45:
            records = [
                self.chronic(patient, c) for c in rng.sample(MIDDLE_CHRONIC, rng.randint(1, 3))
            ]
        else:
            records = [self.chronic(patient, rng.choice(YOUNG_CHRONIC))]
        if rng.random() < 0.3:
            records.append(self.over(patient, rng.choice(OVER), within_days=1500))
        if rng.random() < 0.15 and not any(r["code"]["code"] == P76.code for r in records):
            depression = self.record(
                patient,
                P76,
                clinical="remission",
                onset=self._days_ago(800, 3000),
                abatement=self._days_ago(100, 700),
            )
            records.append(depression)
        return records

    def records(self, patients: Sequence[str]) -> list[dict[str, Any]]:
        ages = {p: _age(p, self.today) for p in patients}
        oldest = sorted(patients, key=lambda p: -(ages[p] or 0))[:3]
        found = []
        for patient in patients:
            if patient in oldest:
                found += self.scripted(oldest.index(patient), patient)
            else:
                found += self.by_age(patient, ages[patient])
        return found


def demo_records(
    *, rng: random.Random, patients: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """Diagnoses for each person, as a municipal journal system would send them."""
    return _Demo(rng=rng, now=now).records(patients)
