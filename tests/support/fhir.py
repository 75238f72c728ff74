"""Helpers for the FHIR face's tests: examples, validation with a real FHIR library."""

from __future__ import annotations

import contextlib
import copy
import importlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from journalloft.platform.http.app import create_app
from journalloft.platform.runtime import build_runtime
from support.platform import TestPlatform

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"

OKT_EPISODE_EXAMPLE: dict[str, Any] = {
    # the OKT IG's example EpisodeOfCare-OktEpisodeOfCare1 (HL7 Norway FHIR hackathon 2025), as
    # published but without its generated narrative; its patient is a reference to a Patient
    # resource, which the test replaces by a synthetic person's identifier
    "resourceType": "EpisodeOfCare",
    "id": "OktEpisodeOfCare1",
    "meta": {"profile": ["http://hl7.no/fhir/ig/okt/StructureDefinition/OktEpisodeOfCare"]},
    "extension": [
        {
            "url": "http://hl7.no/fhir/ig/okt/StructureDefinition/WeeklyExtentQuantity",
            "valueQuantity": {"value": 10},
        },
        {
            "url": "http://hl7.no/fhir/ig/okt/StructureDefinition/ServiceDescriptionMarkdown",
            "valueMarkdown": "Dette er en utfyllende beskrivelse av tjenesten",
        },
    ],
    "status": "active",
    "type": [
        {
            "coding": [
                {
                    "system": "urn:oid:2.16.578.1.12.4.1.1.9151",
                    "code": "1",
                    "display": "Praktisk bistand - daglige gjøremål",
                }
            ]
        },
        {
            "coding": [
                {"system": "http://hl7.no/fhir/ig/okt/CodeSystem/OktServiceLevelCs", "code": "dps"}
            ]
        },
        {
            "coding": [
                {
                    "system": "http://hl7.no/fhir/ig/okt/CodeSystem/OktStayTypeCs",
                    "code": "dagopphold",
                }
            ]
        },
        {
            "coding": [
                {
                    "system": "http://hl7.no/fhir/ig/okt/CodeSystem/OktOrderDetailsCs",
                    "code": "needsCaption",
                }
            ]
        },
    ],
    "patient": {"reference": "Patient/Example"},
    "period": {"start": "2025-01-01", "end": "2025-12-31"},
}


def okt_episode(person: str, **changes: Any) -> dict[str, Any]:
    episode = copy.deepcopy(OKT_EPISODE_EXAMPLE)
    episode["patient"] = {"identifier": {"system": FNR, "value": person}}
    episode.update(changes)
    return episode


def transaction(*resources: dict[str, Any], urls: list[str] | None = None) -> dict[str, Any]:
    entries = []
    for i, resource in enumerate(resources):
        url = urls[i] if urls else resource["resourceType"]
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                "resource": resource,
                "request": {"method": "POST" if "?" not in url else "PUT", "url": url},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def vital(index: int, loinc: str, value: float, unit: str, person: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"identifier": {"system": FNR, "value": person}},
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"},
    }


def news2_bundle(person: str, measurement_id: str, *, hours_ago: float = 1) -> dict[str, Any]:
    """A NEWS2 Observation and its five vital signs as entries of one transaction Bundle:
    RR 22 (2), SpO2 94 scale 1 (1), air (0), systolic 105 (1), pulse 112 (2), A (0), 38.4 (1)."""
    effective = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    vitals = [
        vital(1, "9279-1", 22, "/min", person),
        vital(2, "59408-5", 94, "%", person),
        vital(3, "8480-6", 105, "mm[Hg]", person),
        vital(4, "8867-4", 112, "/min", person),
        vital(5, "8310-5", 38.4, "Cel", person),
    ]
    for v in vitals:
        v["effectiveDateTime"] = effective
    score = {
        "resourceType": "Observation",
        "meta": {"lastUpdated": effective},
        "identifier": [{"system": "urn:test:gerica", "value": measurement_id}],
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1104051000000101"}]},
        "subject": {"identifier": {"system": FNR, "value": person}},
        "effectiveDateTime": effective,
        "valueQuantity": {"value": 7},
        "component": [
            {
                "code": {
                    "coding": [
                        {
                            "system": "https://journalloft.no/fhir/CodeSystem/news2-input",
                            "code": "spo2-scale",
                        }
                    ]
                },
                "valueInteger": 1,
            },
            {
                "code": {
                    "coding": [
                        {
                            "system": "https://journalloft.no/fhir/CodeSystem/news2-input",
                            "code": "supplemental-oxygen",
                        }
                    ]
                },
                "valueBoolean": False,
            },
            {
                "code": {
                    "coding": [
                        {
                            "system": "https://journalloft.no/fhir/CodeSystem/news2-input",
                            "code": "acvpu",
                        }
                    ]
                },
                "valueString": "A",
            },
        ],
        "hasMember": [
            {"reference": f"urn:uuid:00000000-0000-4000-8000-{i:012d}"} for i in range(1, 6)
        ],
    }
    return transaction(score, *vitals)


def validate(resource: dict[str, Any]) -> None:
    """Validate against FHIR's 4.x model with fhir.resources (R4B): raises if not valid."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    getattr(module, kind).model_validate(resource)


@contextlib.contextmanager
def served(platform: TestPlatform) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, over the same stores as ``platform``
    (its own runtime, opened on the server's event loop): for real FHIR client libraries."""
    runtime = build_runtime(platform.runtime.settings)
    app = create_app(platform.runtime.settings, runtime=runtime)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()
