"""Synthetic NEWS2 measurements for ``journalloft demo``: what a journal system would send.

People get a series over the last three days: one deteriorates to high risk, one to medium risk,
one is on SpO2 scale 2 with oxygen, the rest are stable; one stable person's latest set is
incomplete (temperature and consciousness not measured). Names are made up; HPR numbers are
the platform's synthetic ones (no real person's).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from journalloft.plugin import synthetic_hpr_number
from journalloft.services.news2.scoring import VITAL_SIGNS, Vitals, score

Profile = Literal["high", "medium", "scale2", "stable"]
PROFILES: tuple[Profile, ...] = ("high", "medium", "scale2", "stable")
FINAL_SEVERITY: dict[Profile, float] = {"high": 0.8, "medium": 0.45, "scale2": 0.05, "stable": 0.05}

FIRST_NAMES = ("Kari", "Ola", "Ingrid", "Mohammed", "Sunniva", "Jonas", "Aisha", "Per", "Linh")
LAST_NAMES = ("Nordmann", "Fjellheim", "Strandvik", "Haugland", "Bakketun", "Lien", "Solberg")
LOCATIONS = (
    "Hjemmesykepleien sone nord",
    "Hjemmesykepleien sone sør",
    "Helsehuset, korttidsavdelingen",
    "Sykehjemmet, avdeling 2",
    "Omsorgsboliger, Sentrum",
)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _vitals(severity: float, *, profile: Profile, noise: float, rng: random.Random) -> Vitals:
    """Vital signs that move away from normal as ``severity`` goes from 0 to 1."""

    def jitter(spread: float) -> float:
        return rng.uniform(-spread, spread) * noise

    if profile == "scale2":
        return Vitals(
            spo2_scale=2,
            respiration_rate=round(_clamp(19 + jitter(2), 0, 80)),
            spo2=round(_clamp(90 + jitter(2), 50, 100)),
            supplemental_oxygen=True,
            systolic_bp=round(_clamp(135 + jitter(10), 40, 300)),
            pulse=round(_clamp(82 + jitter(6), 20, 250)),
            consciousness="A",
            temperature=round(_clamp(36.9 + jitter(0.3), 25.0, 45.0), 1),
        )
    return Vitals(
        spo2_scale=1,
        respiration_rate=round(_clamp(16 + severity * 12 + jitter(1), 0, 80)),
        spo2=round(_clamp(97 - severity * 8 + jitter(1), 50, 100)),
        supplemental_oxygen=severity > 0.7,
        systolic_bp=round(_clamp(125 - severity * 35 + jitter(6), 40, 300)),
        pulse=round(_clamp(75 + severity * 45 + jitter(5), 20, 250)),
        consciousness="A" if severity < 0.85 else "C",
        temperature=round(_clamp(37.0 + severity * 2.2 + jitter(0.2), 25.0, 45.0), 1),
    )


def _record(
    *,
    rng: random.Random,
    record_id: str,
    patient: str,
    effective: datetime,
    now: datetime,
    vitals: Vitals,
    recorded_by: dict[str, str],
    location: str,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": min(effective + timedelta(minutes=rng.randint(1, 15)), now).isoformat(),
        "effective": effective.isoformat(),
        "spo2_scale": vitals.spo2_scale,
        **{name: getattr(vitals, name) for name in VITAL_SIGNS},
        "recorded_by": recorded_by,
        "location": location,
    }
    if rng.random() < 0.5:
        record["total_score"] = score(vitals).total
    return record


def demo_records(
    *, rng: random.Random, patients: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """A series of 8–10 measurements per person over the last three days, oldest first."""
    now = now.replace(microsecond=0)
    incomplete = 3 if len(patients) > 3 else len(patients) - 1
    records = []
    for index, patient in enumerate(patients):
        profile = PROFILES[index % len(PROFILES)]
        location = rng.choice(LOCATIONS)
        batch = f"{rng.randrange(16**8):08x}"
        count = rng.randint(8, 10)
        start = now - timedelta(hours=70)
        step = (timedelta(hours=70) - timedelta(minutes=30)) / (count - 1)
        for k in range(count):
            progress = k / (count - 1)
            last = k == count - 1
            severity = FINAL_SEVERITY[profile] * progress**1.5 if profile != "stable" else 0.05
            vitals = _vitals(severity, profile=profile, noise=0.0 if last else 1.0, rng=rng)
            if last and index == incomplete:
                vitals = replace(vitals, consciousness=None, temperature=None)
            effective = start + step * k - timedelta(minutes=rng.randint(0, 20))
            records.append(
                _record(
                    rng=rng,
                    record_id=f"demo-{batch}-{k + 1}",
                    patient=patient,
                    effective=effective.replace(microsecond=0),
                    now=now,
                    vitals=vitals,
                    recorded_by={
                        "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                        "hpr": synthetic_hpr_number(rng),
                    },
                    location=location,
                )
            )
    return records
