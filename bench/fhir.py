"""The FHIR face's load: NEWS2 records as transaction Bundles of Observations, and the board's
POST _search."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from bench.load import Request

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
INPUT = "https://journalloft.no/fhir/CodeSystem/news2-input"
VITALS = {
    "respiration_rate": ("9279-1", "/min"),
    "spo2": ("59408-5", "%"),
    "systolic_bp": ("8480-6", "mm[Hg]"),
    "pulse": ("8867-4", "/min"),
    "temperature": ("8310-5", "Cel"),
}


def observation(record: dict[str, Any]) -> dict[str, Any]:
    """A native NEWS2 record as a NEWS2 Observation with its vital signs contained."""
    subject = {"identifier": {"system": FNR, "value": record["patient"]}}
    contained = []
    for field, (loinc, unit) in VITALS.items():
        if record.get(field) is None:
            continue
        contained.append(
            {
                "resourceType": "Observation",
                "id": loinc,
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                "subject": subject,
                "effectiveDateTime": record["effective"],
                "valueQuantity": {"value": record[field], "unit": unit},
            }
        )
    components: list[dict[str, Any]] = [
        {"code": {"coding": [{"system": INPUT, "code": "spo2-scale"}]}, "valueInteger": 1}
    ]
    if record.get("supplemental_oxygen") is not None:
        components.append(
            {
                "code": {"coding": [{"system": INPUT, "code": "supplemental-oxygen"}]},
                "valueBoolean": record["supplemental_oxygen"],
            }
        )
    if record.get("consciousness") is not None:
        components.append(
            {
                "code": {"coding": [{"system": INPUT, "code": "acvpu"}]},
                "valueString": record["consciousness"],
            }
        )
    return {
        "resourceType": "Observation",
        "meta": {"lastUpdated": record["updated"]},
        "identifier": [{"system": "urn:bench", "value": record["id"]}],
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1104051000000101"}]},
        "subject": subject,
        "effectiveDateTime": record["effective"],
        "contained": contained,
        "component": components,
        "hasMember": [{"reference": f"#{c['id']}"} for c in contained],
    }


def transaction(records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": observation(r),
                    "request": {
                        "method": "PUT",
                        "url": f"Observation?identifier=urn:bench|{r['id']}",
                    },
                }
                for r in records
            ],
        }
    )


def search_request(person: str, token: str) -> Request:
    body = urlencode({"patient:identifier": f"{FNR}|{person}"}).encode()
    return Request(
        "POST",
        "/fhir/Observation/_search",
        body,
        token,
        content_type="application/x-www-form-urlencoded",
    )
