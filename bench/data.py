"""Synthetic tenants, people and records for the benchmarks: only synthetic people, ever."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from journalloft.platform.core.identifiers import parse_organisasjonsnummer, synthetic_person_id
from journalloft.services.kommunale_tjenester import spec as kommunale_tjenester
from journalloft.services.news2 import spec as news2

SERVICES = ("kommunale-tjenester", "news2")
ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
RATE_LIMIT = 1_000_000


def organisasjonsnummer(seed: int) -> str:
    """A valid (mod-11) 9-digit organisasjonsnummer derived from ``seed``; synthetic."""
    base = 910_000_000 // 10 + seed * 7
    while True:
        digits = [int(c) for c in f"{base:08d}"[-8:]]
        rest = 11 - sum(d * w for d, w in zip(digits, ORGNR_WEIGHTS, strict=True)) % 11
        check = 0 if rest == 11 else rest
        if check != 10:
            return parse_organisasjonsnummer("".join(map(str, digits)) + str(check))
        base += 1


def kommunenummer(index: int) -> str:
    """Distinct synthetic 4-digit kommunenummer (0101, 0102, ...)."""
    return f"{101 + index:04d}"


def tenant_document(index: int, knr: str | None = None) -> dict[str, Any]:
    knr = knr or kommunenummer(index)
    return {
        "kommunenummer": knr,
        "name": f"Benchkommune {knr}",
        "organisasjonsnummer": organisasjonsnummer(index),
        "services": {"kommunale-tjenester": {"ended_window_days": 90}, "news2": {}},
        "sources": [{"client_id": f"bench-{knr}-epj", "name": "EPJ", "services": list(SERVICES)}],
        "consumers": [
            {"client_id": f"bench-{knr}-legevakt", "name": "Legevakt", "services": list(SERVICES)}
        ],
        "operators": [{"client_id": f"bench-{knr}-drift", "name": "Drift"}],
        "policy": {"rate_limit_per_minute": RATE_LIMIT},
    }


def people(n: int, *, seed: str) -> list[str]:
    """``n`` distinct synthetic person ids (never a real person's number)."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < n:
        found[synthetic_person_id(rng)] = None
    return list(found)


def news2_records(
    rng: random.Random, patients: Sequence[str], *, now: datetime, tag: str
) -> list[dict[str, Any]]:
    """About 18 measurements per person: one series in the last 72 h (what the board shows) and
    one older series (outside the default window, but in the table and its index)."""
    records = []
    for series, at in enumerate((now, now - timedelta(hours=84))):
        for record in news2.demo_records(rng=rng, patients=patients, now=at):
            # demo ids are random per call; make them unique per (patient, series, k)
            record["id"] = f"{tag}-{record['patient']}-{series}-{record['id'].rsplit('-', 1)[1]}"
            records.append(record)
    return records


def kt_records(
    rng: random.Random, patients: Sequence[str], *, now: datetime, tag: str
) -> list[dict[str, Any]]:
    records = kommunale_tjenester.demo_records(rng=rng, patients=patients, now=now)
    seen: dict[str, int] = {}
    for record in records:
        k = seen[record["patient"]] = seen.get(record["patient"], 0) + 1
        record["id"] = f"{tag}-{record['patient']}-{k}"
    return records


def first_per_person(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for record in records:
        if record["patient"] not in seen:
            seen.add(record["patient"])
            kept.append(record)
    return kept


SHAPES = ("board", "lean")
"""board: ~18 NEWS2 measurements and ~1.8 services a person (what a legevakt board reads);
lean: one of each a person, for a tenant of a million people that loads in minutes."""


def batches(
    patients: Sequence[str],
    *,
    now: datetime,
    seed: str,
    tag: str,
    size: int = 1000,
    shape: str = "board",
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(service, up to ``size`` records) for these people, both services, in ingest order."""
    rng = random.Random(seed)
    pending: dict[str, list[dict[str, Any]]] = {s: [] for s in SERVICES}
    chunk = 50
    for start in range(0, len(patients), chunk):
        group = patients[start : start + chunk]
        if shape == "lean":
            latest = news2.demo_records(rng=rng, patients=group, now=now)
            pending["news2"] += [
                {**record, "id": f"{tag}-{record['patient']}-0"}
                for record in first_per_person(latest)
            ]
            pending["kommunale-tjenester"] += first_per_person(
                kt_records(rng, group, now=now, tag=tag)
            )
        else:
            pending["news2"] += news2_records(rng, group, now=now, tag=tag)
            pending["kommunale-tjenester"] += kt_records(rng, group, now=now, tag=tag)
        for service, records in pending.items():
            while len(records) >= size:
                yield service, records[:size]
                del records[:size]
    for service, records in pending.items():
        for start in range(0, len(records), size):
            yield service, records[start : start + size]
