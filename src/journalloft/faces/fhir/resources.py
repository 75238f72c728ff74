"""The resource types the face serves, each bound to one sharing service: how its resources
are read into native records and made from a lookup's results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from journalloft.faces.fhir import episode, news2
from journalloft.faces.fhir.common import Errors
from journalloft.faces.fhir.search import Search
from journalloft.platform.instants import OSLO

Members = Sequence[news2.Member]


@dataclass(frozen=True)
class Binding:
    resource_type: str
    service: str
    field_paths: Mapping[str, str]
    codes_of: Callable[[Mapping[str, Any]], set[tuple[str, str]]]
    date_of: Callable[[Mapping[str, Any]], str]
    search_params: tuple[str, ...]

    def options(self, search: Search, now: datetime) -> dict[str, Any]:
        """The native query's options for this search."""
        if self.service == "news2":
            return {"hours": search.hours_back(now, default=72, most=720)}
        ended = bool({"finished", "cancelled"} & set(search.statuses)) or bool(search.dates)
        return {"include_ended": True} if ended else {}

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """One person's part of a lookup: each main resource with the ones it includes."""
        if self.service == "news2":
            return [
                news2.observations(m, patient=patient, kommunenummer=kommunenummer)
                for m in fields["measurements"]
            ]
        return [
            (episode.episode_of_care(s, patient=patient, kommunenummer=kommunenummer), [])
            for s in fields["services"]
        ]

    def matches(self, resource: Mapping[str, Any], search: Search) -> bool:
        if not search.code_matches(self.codes_of(resource)):
            return False
        if search.statuses and resource.get("status") not in search.statuses:
            return False
        if search.dates:
            if self.service == "news2":
                instant = datetime.fromisoformat(str(resource["effectiveDateTime"]))
                return search.date_matches(instant, instant)
            period = resource["period"]
            start = datetime.combine(date.fromisoformat(period["start"]), time(), OSLO)
            end = (
                datetime.combine(date.fromisoformat(period["end"]), time(23, 59, 59), OSLO)
                if period.get("end")
                else None
            )
            return search.date_matches(start, end)
        return True

    def record(
        self,
        resource: Mapping[str, Any],
        errors: Errors,
        *,
        members: Members = (),
        record_id: str | None = None,
        unit: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if self.service == "news2":
            return news2.record_of(resource, errors, members=members, record_id=record_id)
        return episode.record_of(resource, errors, record_id=record_id, unit=unit)


BINDINGS: dict[str, Binding] = {
    "EpisodeOfCare": Binding(
        "EpisodeOfCare",
        "kommunale-tjenester",
        episode.FIELD_PATHS,
        episode.codes_of,
        episode.date_of,
        ("patient:identifier", "code", "date", "status", "_sort", "_count", "_summary"),
    ),
    "Observation": Binding(
        "Observation",
        "news2",
        news2.FIELD_PATHS,
        news2.codes_of,
        news2.date_of,
        (
            "patient:identifier",
            "subject:identifier",
            "code",
            "date",
            "status",
            "_sort",
            "_count",
            "_summary",
        ),
    ),
}
