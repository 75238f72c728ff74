"""Typed shapes of kommunale-tjenester: the ingest record, the stored row and the query result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, NamedTuple, NotRequired, TypedDict

from journalloft.services.kommunale_tjenester.status import Status

StayType = Literal["dagopphold", "korttidsopphold"]


class Unit(TypedDict):
    """The unit that delivers a service: whom the legevakt calls."""

    name: str
    phone: NotRequired[str | None]


class ServiceRecord(TypedDict):
    """One record as a journal system sends it (``record.schema.json``)."""

    id: str
    patient: str
    updated: str
    service_code: str
    description: NotRequired[str | None]
    unit: NotRequired[Unit | None]
    start: str
    end: NotRequired[str | None]
    temporary_cessation: NotRequired[bool]
    weekly_extent: NotRequired[str | None]
    stay_type: NotRequired[StayType | None]


class ServiceColumns(TypedDict):
    """The service's own columns of a stored row (the platform adds the shared ones)."""

    service_code: str
    description: str | None
    unit_name: str | None
    unit_phone: str | None
    start_date: date
    end_date: date | None
    temporary_cessation: bool
    weekly_extent: str | None
    stay_type: str | None


class ServiceRow(NamedTuple):
    """One stored service as the query reads it (a row, not an ORM instance)."""

    patient: str
    record_id: str
    service_code: str
    description: str | None
    unit_name: str | None
    unit_phone: str | None
    start_date: date
    end_date: date | None
    temporary_cessation: bool
    weekly_extent: str | None
    stay_type: str | None
    updated: datetime


class ResultUnit(TypedDict):
    name: str
    phone: str | None


class ServiceEntry(TypedDict):
    """One service in a query result (``result.schema.json#/$defs/service``)."""

    id: str
    service_code: str
    service_name: str
    description: str | None
    unit: ResultUnit | None
    start: date
    end: date | None
    temporary_cessation: bool
    weekly_extent: str | None
    stay_type: str | None
    status: Status
    updated: datetime


class PatientServices(TypedDict):
    """What one municipality holds on one person (the platform adds patient and kommunenummer)."""

    active_count: int
    services: list[ServiceEntry]
