"""Helpers for the FHIR face's tests: examples, validation with a real FHIR library."""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import importlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import jsonschema_rs
import uvicorn

from journalloft.app import create_app
from journalloft.platform.runtime import build_runtime
from support import free_port, token_form
from support import people as _people
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


_R4_SCHEMA = Path(__file__).parent / "fhir_r4" / "fhir.schema.json.gz"


@functools.cache
def _r4_definitions() -> Any:
    """The schema's definitions. The schema the npm package ships is R4's as published with
    4.0.0, whose FHIRVersion enums end at "4.0.0": "4.0.1" (the technical correction the face
    serves) is added to them, and nothing else is changed (``fhir_r4/README.md``)."""
    with gzip.open(_R4_SCHEMA, "rt", encoding="utf-8") as text:
        definitions = json.load(text)["definitions"]
    stack: list[Any] = [definitions]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and "4.0.0" in enum and "4.0.1" not in enum:
                enum.append("4.0.1")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return definitions


@functools.cache
def _r4_schema(resource_type: str) -> Any:
    """HL7's official FHIR R4 (4.0.1) JSON schema (``fhir_r4/README.md``) for one resource type
    (its definition, not the schema's top-level ``oneOf``, so that an error names the element)."""
    return jsonschema_rs.validator_for(
        {
            "$schema": "http://json-schema.org/draft-06/schema#",
            "$ref": f"#/definitions/{resource_type}",
            "definitions": _r4_definitions(),
        }
    )


def json_rule_violations(value: Any, pointer: str = "") -> list[str]:
    """Where ``value`` breaks FHIR JSON's own rules (R4 json.html): no empty strings, arrays or
    objects, and no ``null`` (outside the arrays of primitive extensions, which the faces do
    not write)."""
    if value is None:
        return [f"{pointer or '/'}: null"]
    if isinstance(value, str):
        return [f"{pointer or '/'}: empty string"] if value == "" else []
    if isinstance(value, list):
        if not value:
            return [f"{pointer or '/'}: empty array"]
        return [
            v for i, item in enumerate(value) for v in json_rule_violations(item, f"{pointer}/{i}")
        ]
    if isinstance(value, dict):
        if not value:
            return [f"{pointer or '/'}: empty object"]
        return [
            v for key, item in value.items() for v in json_rule_violations(item, f"{pointer}/{key}")
        ]
    return []


def check_fhir(resource: Any) -> None:
    """Raise AssertionError unless ``resource`` is valid FHIR R4 JSON by three independent
    checks: FHIR JSON's own rules, HL7's official R4 JSON schema, and fhir.resources' model."""
    problems = json_rule_violations(resource)
    assert not problems, f"not FHIR JSON: {problems}"
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message[:300]}"
        for e in _r4_schema(str(resource.get("resourceType"))).iter_errors(resource)
    ]
    assert not errors, f"not valid by the FHIR R4 JSON schema: {errors[:5]}"
    validate(resource)


def check_fhir_answer(response: httpx2.Response) -> None:
    """An httpx response hook: every ``application/fhir+json`` answer is checked with
    :func:`check_fhir`."""
    if not response.headers.get("content-type", "").startswith("application/fhir+json"):
        return
    response.read()
    if response.content:
        check_fhir(response.json())


@contextlib.contextmanager
def fhir_checked(client: httpx2.Client) -> Iterator[None]:
    """Check every FHIR answer ``client`` receives while inside (:func:`check_fhir_answer`)."""
    hooks = client.event_hooks
    hooks["response"] = [*hooks.get("response", []), check_fhir_answer]
    client.event_hooks = hooks
    try:
        yield
    finally:
        hooks["response"] = [h for h in hooks["response"] if h is not check_fhir_answer]
        client.event_hooks = hooks


@contextlib.contextmanager
def served(platform: TestPlatform) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, over the same stores and keys as
    ``platform`` (its own runtime, opened on the server's event loop, its public URL the served
    one): for real FHIR client libraries."""
    port = free_port()
    # its own public URL, as a deployment sets it: the links it answers (a searchset's next, a
    # Location) name where it is served, and clients refuse to follow them elsewhere
    settings = platform.runtime.settings.model_copy(
        update={"public_url": f"http://127.0.0.1:{port}"}
    )
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime)
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


def served_token(platform: TestPlatform, url: str, client_id: str) -> str:
    """A bearer token from the built-in issuer of the app :func:`served` at ``url`` (its issuer
    is its own public URL), as the client would get it."""
    response = httpx2.post(
        f"{url}/oauth/token",
        data=token_form(client_id, platform.keys[client_id], audience=url),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


EXAMPLES = Path(__file__).parent.parent / "faces" / "examples"
"""The published examples kept with their source and licence (``examples/README.md``)."""
SYNTHETIC_ORGNR = "999999999"
"""An organisasjonsnummer no organisation has (its check digit is wrong): the VKP example's
organisation ``103`` is not a number Enhetsregisteret could give."""


def published(name: str) -> dict[str, Any]:
    """A published example as its publisher built it (``tests/faces/examples/<name>``)."""
    example: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return example


def vkp_news2_example(person: str, *, author: str | None = None) -> dict[str, Any]:
    """HL7 Norway's example of vkp-Observation-NEWS2score (``vkp-news2-create``) as the IG
    publishes it, its numbers made valid synthetic ones: the subject ``person``, the author
    (``22`` under the FNR system) ``author`` (another synthetic person by default), the
    organisation (``103`` under ENH) :data:`SYNTHETIC_ORGNR`. The source's total and sub-scores,
    no vital signs, the day it was measured only."""
    example = published("vkp-Observation-vkp-news2-create.json")
    example["subject"]["identifier"]["value"] = person
    if author is None:
        (author,) = [p for p in _people(2, seed="vkp-author") if p != person][:1]
    example["performer"][0]["identifier"]["value"] = author
    example["performer"][1]["identifier"]["value"] = SYNTHETIC_ORGNR
    return example
