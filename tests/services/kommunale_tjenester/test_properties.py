import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journalloft.platform.core.identifiers import synthetic_person_id
from journalloft.platform.plugins.service_protocol import (
    IngestContext,
    QueryContext,
    RecordRejected,
)
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.records import content_hash, upsert_records
from journalloft.plugin import today_in_oslo
from journalloft.services.kommunale_tjenester import spec
from journalloft.services.kommunale_tjenester.codes import service_type
from journalloft.services.kommunale_tjenester.service import summarise
from journalloft.services.kommunale_tjenester.shapes import ServiceRow
from journalloft.services.kommunale_tjenester.status import STATUS_ORDER
from support import query_service
from support.stores import migrated_stores

BODO = "1804"
SOURCE = "bodo-epj"
KNOWN = [found for n in range(1, 1000) if (found := service_type(str(n))) is not None]
CURRENT_CODES = [t.code for t in KNOWN if not t.retired]
RETIRED_CODES = [t.code for t in KNOWN if t.retired]

_seeds = itertools.count(1)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    with migrated_stores(tmp_path_factory.mktemp("data"), spec, (BODO,)) as stores:
        yield stores


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    """start, end and temporary_cessation of one service, near the dates the tests use."""
    start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
    length = draw(st.none() | st.integers(min_value=0, max_value=2000))
    return {
        "start": start,
        "end": None if length is None else start + timedelta(days=length),
        "temporary_cessation": draw(st.booleans()),
        "service_code": draw(st.sampled_from(CURRENT_CODES)),
    }


instants = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)
)


def expected_status(service: dict[str, Any], today: date) -> str:
    """The statuses of CONTRACT.md, each written as its own condition."""
    ended = service["end"] is not None and service["end"] < today
    planned = not ended and service["start"] > today
    paused = not ended and not planned and service["temporary_cessation"]
    active = not (ended or planned or paused)
    [status] = [
        name
        for name, holds in [
            ("ended", ended),
            ("planned", planned),
            ("paused", paused),
            ("active", active),
        ]
        if holds
    ]
    return status


def as_row(patient: str, record_id: str, service: dict[str, Any]) -> dict[str, Any]:
    return {
        "patient": patient,
        "record_id": record_id,
        "service_code": service["service_code"],
        "description": None,
        "unit_name": None,
        "unit_phone": None,
        "start_date": service["start"],
        "end_date": service["end"],
        "temporary_cessation": service["temporary_cessation"],
        "weekly_extent": None,
        "stay_type": None,
        "updated": datetime(2026, 1, 1, tzinfo=UTC),
    }


@given(st.lists(services(), min_size=1, max_size=12), instants)
def test_every_service_lands_in_exactly_one_status_in_order(
    drawn: list[dict[str, Any]], now: datetime
) -> None:
    today = today_in_oslo(now)
    patient = synthetic_person_id(random.Random(1))
    rows = [as_row(patient, f"id-{i}", s) for i, s in enumerate(drawn)]
    [(found_patient, found)] = summarise([ServiceRow(**r) for r in rows], today=today).items()
    assert found_patient == patient
    by_id = {s["id"]: s for s in found["services"]}
    assert sorted(by_id) == sorted(r["record_id"] for r in rows)
    for i, service in enumerate(drawn):
        assert by_id[f"id-{i}"]["status"] == expected_status(service, today)
    assert found["active_count"] == sum(s["status"] == "active" for s in found["services"])
    keys = [(STATUS_ORDER[s["status"]], -s["start"].toordinal()) for s in found["services"]]
    assert keys == sorted(keys)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(services(), min_size=1, max_size=6),
    instants,
    st.integers(min_value=0, max_value=3650),
    st.booleans(),
)
def test_query_returns_exactly_the_services_inside_the_window(
    stores: Stores,
    drawn: list[dict[str, Any]],
    now: datetime,
    window: int,
    include_ended: bool,
) -> None:
    patient = synthetic_person_id(random.Random(next(_seeds)))
    today = today_in_oslo(now)
    records = [
        {
            "id": f"{patient}-{i}",
            "patient": patient,
            "updated": "2026-01-01T00:00:00+00:00",
            "service_code": s["service_code"].zfill(3),
            "start": s["start"].isoformat(),
            "end": None if s["end"] is None else s["end"].isoformat(),
            "temporary_cessation": s["temporary_cessation"],
        }
        for i, s in enumerate(drawn)
    ]
    context = IngestContext(kommunenummer=BODO, source=SOURCE, now=now, settings={})
    rows = [
        {
            **spec.prepare(r, context=context),
            "source": SOURCE,
            "record_id": r["id"],
            "patient": patient,
            "updated": datetime.fromisoformat(r["updated"]),
            "content_hash": content_hash(r),
            "received_at": now,
        }
        for r in records
    ]
    query_context = QueryContext(
        kommunenummer=BODO,
        now=now,
        settings={"ended_window_days": window},
        options={"patients": [patient], "include_ended": include_ended},
    )
    with stores.tenant_transaction(BODO) as connection:
        upsert_records(connection, spec.table, source=SOURCE, rows=rows)
    found = query_service(stores, spec, BODO, patients=[patient], context=query_context)

    cutoff = today - timedelta(days=window)
    shown = {
        f"{patient}-{i}": expected_status(s, today)
        for i, s in enumerate(drawn)
        if include_ended or s["end"] is None or s["end"] >= cutoff
    }
    if not shown:
        assert found == {}
        return
    assert {s["id"]: s["status"] for s in found[patient]["services"]} == shown


def a_record(**fields: Any) -> dict[str, Any]:
    return {
        "id": "GER-1",
        "patient": synthetic_person_id(random.Random(1)),
        "updated": "2026-01-01T00:00:00Z",
        "start": "2026-01-01",
        **fields,
    }


@given(st.sampled_from(CURRENT_CODES), st.integers(min_value=0, max_value=2))
def test_any_padding_of_a_current_code_is_stored_without_it(code: str, padding: int) -> None:
    record = a_record(service_code=code.zfill(min(3, len(code) + padding)))
    context = IngestContext(kommunenummer=BODO, source=SOURCE, now=datetime.now(UTC), settings={})
    assert spec.prepare(record, context=context)["service_code"] == code


@given(st.sampled_from(RETIRED_CODES), st.integers(min_value=0, max_value=1))
def test_retired_codes_are_refused_however_padded(code: str, padding: int) -> None:
    record = a_record(service_code="0" * padding + code)
    context = IngestContext(kommunenummer=BODO, source=SOURCE, now=datetime.now(UTC), settings={})
    with pytest.raises(RecordRejected) as caught:
        spec.prepare(record, context=context)
    assert [e.pointer for e in caught.value.errors] == ["/service_code"]
