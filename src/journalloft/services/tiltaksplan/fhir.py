"""Tiltaksplan's FHIR face: one CarePlan (``intent`` plan) per measure, with one activity.

No HL7 Norway CarePlan profile for a municipal tiltaksplan exists (see docs/services.md), so
this follows FHIR R4 CarePlan and Timing. The unit and the goal are contained resources.

| native (record / result)   | CarePlan                                                        |
| -------------------------- | --------------------------------------------------------------- |
| id (the source's own id)   | identifier[0].value                                             |
| patient                    | subject.identifier (FNR or DNR system)                          |
| updated                    | meta.lastUpdated                                                |
| title                      | title, activity[0].detail.code.text                             |
| category                   | category[0].coding (the platform's code system)                 |
| description                | description, activity[0].detail.description                     |
| schedule                   | activity[0].detail.scheduledTiming.repeat (timeOfDay, dayOfWeek,|
|                            | period + periodUnit d), its code.text; text only: scheduledString|
| unit {name, phone}         | contained Organization (name, telecom phone), activity[0].detail|
|                            | .performer[0] and author                                        |
| start, end                 | period.start, period.end (days)                                 |
| status                     | status: active, on-hold, completed, revoked (cancelled);        |
|                            | activity[0].detail.status: in-progress, on-hold, completed,     |
|                            | cancelled (answered, not read)                                  |
| goal                       | contained Goal (description.text), goal[0], activity detail goal|
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from journalloft.plugin import OSLO, fhir
from journalloft.services.tiltaksplan.categories import CATEGORIES, CATEGORY_SYSTEM

UNIT: Final = "unit"
GOAL: Final = "goal"
PLAN_STATUS: Final = {
    "active": "active",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "revoked",
}
NATIVE_STATUS: Final = {fhir_code: native for native, fhir_code in PLAN_STATUS.items()}
ACTIVITY_STATUS: Final = {
    "active": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
}
ENDED: Final = frozenset({"completed", "revoked"})
DETAIL: Final = "/activity/0/detail"

FIELD_PATHS: Final = {
    "id": "/identifier/0/value",
    "patient": "/subject/identifier/value",
    "updated": "/meta/lastUpdated",
    "title": "/title",
    "category": "/category/0/coding/0/code",
    "description": "/description",
    "schedule": DETAIL + "/scheduledTiming",
    "unit": DETAIL + "/performer/0",
    "start": "/period/start",
    "end": "/period/end",
    "status": "/status",
    "goal": "/goal/0",
}


def _timing(schedule: Mapping[str, Any]) -> dict[str, Any]:
    repeat: dict[str, Any] = {}
    if schedule.get("weekdays"):
        repeat["dayOfWeek"] = list(schedule["weekdays"])
    elif schedule.get("every_days"):
        repeat |= {"period": schedule["every_days"], "periodUnit": "d"}
    else:
        repeat |= {"period": 1, "periodUnit": "d"}
    repeat["timeOfDay"] = [f"{t}:00" for t in schedule["times"]]
    timing: dict[str, Any] = {"repeat": repeat}
    if schedule.get("text"):
        timing["code"] = {"text": schedule["text"]}
    return timing


def care_plan(measure: Mapping[str, Any], *, patient: str, kommunenummer: str) -> dict[str, Any]:
    """One measure of a lookup's result as a CarePlan."""
    unit = measure["unit"]
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": UNIT,
        "name": unit["name"],
    }
    if unit.get("phone"):
        organization["telecom"] = [{"system": "phone", "value": unit["phone"]}]
    contained: list[dict[str, Any]] = [organization]
    detail: dict[str, Any] = {
        "code": {"text": measure["title"]},
        "status": ACTIVITY_STATUS[measure["status"]],
    }
    if measure.get("goal"):
        contained.append(
            {
                "resourceType": "Goal",
                "id": GOAL,
                "lifecycleStatus": "active",
                "description": {"text": measure["goal"]},
                "subject": fhir.person_reference(patient),
            }
        )
        detail["goal"] = [{"reference": f"#{GOAL}"}]
    schedule = measure.get("schedule")
    if schedule and schedule.get("times"):
        detail["scheduledTiming"] = _timing(schedule)
    elif schedule:
        detail["scheduledString"] = schedule["text"]
    detail["performer"] = [{"reference": f"#{UNIT}", "display": unit["name"]}]
    if measure.get("description"):
        detail["description"] = measure["description"]
    period = {"start": fhir.day(measure["start"])}
    if measure.get("end") is not None:
        period["end"] = fhir.day(measure["end"])
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": fhir.resource_id(kommunenummer, patient, measure["id"]),
        "meta": {"lastUpdated": fhir.instant(measure["updated"])},
        "contained": contained,
        "identifier": [fhir.source_identifier(measure["id"])],
        "status": PLAN_STATUS[measure["status"]],
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": CATEGORY_SYSTEM,
                        "code": measure["category"],
                        "display": CATEGORIES.get(measure["category"], measure["category"]),
                    }
                ]
            }
        ],
        "title": measure["title"],
    }
    if measure.get("description"):
        resource["description"] = measure["description"]
    resource |= {
        "subject": fhir.person_reference(patient),
        "period": period,
        "author": {"reference": f"#{UNIT}", "display": unit["name"]},
    }
    if measure.get("goal"):
        resource["goal"] = [{"reference": f"#{GOAL}"}]
    resource["activity"] = [{"detail": detail}]
    return resource


def _time(value: Any) -> str | None:
    """A FHIR time ``HH:MM:SS`` with no seconds as ``HH:MM``."""
    if isinstance(value, str) and len(value) == 8 and value.endswith(":00"):
        return value[:5]
    return None


def schedule_of(detail: Mapping[str, Any], errors: fhir.Errors) -> dict[str, Any] | None:
    """The native schedule of an activity detail (errors at their FHIR element)."""
    if isinstance(detail.get("scheduledString"), str):
        return {"text": detail["scheduledString"]}
    timing = detail.get("scheduledTiming")
    if timing is None:
        return None
    pointer = DETAIL + "/scheduledTiming"
    repeat = timing.get("repeat") if isinstance(timing, Mapping) else None
    if not isinstance(repeat, Mapping):
        errors.add(
            pointer + "/repeat", "is required: timeOfDay, with dayOfWeek or a period in days"
        )
        return None
    schedule: dict[str, Any] = {}
    supported = {"timeOfDay", "dayOfWeek", "period", "periodUnit", "frequency"}
    for name in sorted(set(repeat) - supported):
        errors.add(
            f"{pointer}/repeat/{name}", "is not supported: use timeOfDay, dayOfWeek, period (d)"
        )
    times = repeat.get("timeOfDay")
    if isinstance(times, list):
        found = [_time(t) for t in times]
        for i, value in enumerate(found):
            if value is None:
                errors.add(
                    f"{pointer}/repeat/timeOfDay/{i}", "must be a time on the minute (HH:MM:00)"
                )
        schedule["times"] = [t for t in found if t is not None]
    if isinstance(repeat.get("dayOfWeek"), list):
        schedule["weekdays"] = repeat["dayOfWeek"]
    period, unit = repeat.get("period"), repeat.get("periodUnit")
    if period is not None or unit is not None:
        if unit != "d" or isinstance(period, bool) or not isinstance(period, int):
            errors.add(f"{pointer}/repeat/period", "must be a whole number of days (periodUnit d)")
        elif period > 1:
            schedule["every_days"] = period
    if repeat.get("frequency") not in (None, 1):
        errors.add(f"{pointer}/repeat/frequency", "must be 1: name each time in timeOfDay")
    code = timing.get("code") if isinstance(timing, Mapping) else None
    if isinstance(code, Mapping) and isinstance(code.get("text"), str):
        schedule["text"] = code["text"]
    return schedule


def _member(members: fhir.Members, pointer: str) -> Mapping[str, Any] | None:
    return next((m for p, m, _place in members if p == pointer and m is not None), None)


def record_of(
    resource: Mapping[str, Any],
    errors: fhir.Errors,
    *,
    members: fhir.Members = (),
    record_id: str | None = None,
) -> dict[str, Any]:
    """The native record of a CarePlan (errors at their FHIR element)."""
    record_id = fhir.record_id_of(resource, record_id, errors)
    if not record_id:
        errors.add("/identifier", "is required: the journal system's own id of the measure")
    patient = fhir.person_of(resource.get("subject"), "/subject", errors)
    if resource.get("intent") != "plan":
        errors.add("/intent", "must be plan")
    activities = resource.get("activity")
    detail: Mapping[str, Any] = {}
    if not isinstance(activities, list) or len(activities) != 1:
        errors.add("/activity", "must hold exactly one activity: one CarePlan per measure")
    elif isinstance(activities[0], Mapping) and isinstance(activities[0].get("detail"), Mapping):
        detail = activities[0]["detail"]
    else:
        errors.add("/activity/0/detail", "is required")
    category = None
    categories = resource.get("category")
    first = categories[0] if isinstance(categories, list) and categories else None
    for system, code in fhir.codes_of_concept(first):
        if system == CATEGORY_SYSTEM:
            category = code
    if category is None:
        errors.add("/category/0", f"must hold a coding of {CATEGORY_SYSTEM}")
    written = resource.get("status")
    status = NATIVE_STATUS.get(written) if isinstance(written, str) else None
    if status is None:
        errors.add("/status", "must be active, on-hold, completed or revoked")
    organization = _member(members, DETAIL + "/performer/0")
    unit: dict[str, Any] | None = None
    if organization is not None and isinstance(organization.get("name"), str):
        phone = next(
            (
                t.get("value")
                for t in organization.get("telecom") or []
                if isinstance(t, Mapping) and t.get("system") == "phone"
            ),
            None,
        )
        unit = {"name": organization["name"], "phone": phone}
    else:
        errors.add(DETAIL + "/performer/0", "must reference a contained Organization with a name")
    goal = _member(members, "/goal/0")
    if goal is None and any(p == "/goal/0" for p, _m, _place in members):
        errors.add("/goal/0", "must reference a contained Goal")
    description = goal.get("description") if goal is not None else None
    period = resource.get("period") if isinstance(resource.get("period"), Mapping) else {}
    title: Any = resource.get("title")
    if not isinstance(title, str):
        concept = detail.get("code")
        title = concept.get("text") if isinstance(concept, Mapping) else None
    record: dict[str, Any] = {
        "id": record_id,
        "patient": patient,
        "updated": (resource.get("meta") or {}).get("lastUpdated"),
        "title": title,
        "category": category,
        "description": fhir.text_of(resource.get("description") or detail.get("description")),
        "schedule": schedule_of(detail, errors),
        "unit": unit,
        "start": (period or {}).get("start"),
        "end": (period or {}).get("end"),
        "status": status,
        "goal": description.get("text") if isinstance(description, Mapping) else None,
    }
    return {k: v for k, v in record.items() if v is not None}


class CarePlans(fhir.Provider):
    """The FHIR face's provider of Tiltaksplan's measures as CarePlan."""

    resource_type = "CarePlan"
    service = "tiltaksplan"
    search_parameters: Mapping[str, fhir.SearchParameter] = {
        "category": fhir.SearchParameter(
            "code", f"The measure's category: {CATEGORY_SYSTEM}|<code>"
        ),
        "status": fhir.SearchParameter(
            "status",
            "active, on-hold, completed or revoked; asking for completed or revoked shares the "
            "measures that ended within the municipality's window",
        ),
        "date": fhir.SearchParameter("date", "The measure's period (days), with prefixes"),
    }
    field_paths: Mapping[str, str] = FIELD_PATHS

    def options(self, search: fhir.Search, now: datetime) -> dict[str, Any]:
        return {"include_ended": True} if ENDED & set(search.statuses) else {}

    def resources(
        self, fields: Mapping[str, Any], *, patient: str, kommunenummer: str
    ) -> list[fhir.Found]:
        return [
            (care_plan(m, patient=patient, kommunenummer=kommunenummer), [])
            for m in fields["measures"]
        ]

    def codes_of(self, resource: Mapping[str, Any]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for concept in resource.get("category") or []:
            found |= fhir.codes_of_concept(concept)
        return found

    def period_of(self, resource: Mapping[str, Any]) -> tuple[datetime, datetime | None] | None:
        period = resource.get("period") or {}
        start = datetime.combine(date.fromisoformat(period["start"]), time(), OSLO)
        end = period.get("end")
        if end is None:
            return start, None
        last = datetime.combine(date.fromisoformat(end), time(), OSLO) + timedelta(days=1)
        return start, last - timedelta(microseconds=1)

    def sort_key(self, resource: Mapping[str, Any]) -> str:
        return str((resource.get("period") or {}).get("start") or "")

    def member_references(
        self, resource: Mapping[str, Any], errors: fhir.Errors
    ) -> list[tuple[str, str]]:
        """The unit (the activity's performer) and the goal a CarePlan names; an element of
        the wrong shape is left to :func:`record_of`, which names it."""
        del errors
        found: list[tuple[str, str]] = []
        activities = resource.get("activity")
        if isinstance(activities, list) and activities and isinstance(activities[0], Mapping):
            detail = activities[0].get("detail")
            performers = detail.get("performer") if isinstance(detail, Mapping) else None
            if isinstance(performers, list) and performers and isinstance(performers[0], Mapping):
                reference = performers[0].get("reference")
                if isinstance(reference, str):
                    found.append((DETAIL + "/performer/0", reference))
        goals = resource.get("goal")
        if isinstance(goals, list) and goals and isinstance(goals[0], Mapping):
            reference = goals[0].get("reference")
            if isinstance(reference, str):
                found.append(("/goal/0", reference))
        return found

    def record(
        self,
        resource: Mapping[str, Any],
        errors: fhir.Errors,
        *,
        members: fhir.Members,
        record_id: str | None,
    ) -> dict[str, Any]:
        return record_of(resource, errors, members=members, record_id=record_id)


PROVIDERS: Final = (CarePlans(),)
