"""Tiltaksplan on the legevakt board: the next scheduled measure, and whom to call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from journalloft.plugin import OSLO, board
from journalloft.services.tiltaksplan.schedule import next_occurrence

Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def next_measure(
    entries: Sequence[board.Entry], *, now: datetime
) -> tuple[datetime, Mapping[str, Any]] | None:
    """The active measure due first at ``now``, across the municipalities' entries, and when.

    Computed again from each measure's schedule (not the lookup's ``next_occurrence``): the
    board shows the entries the stream last sent, perhaps hours ago."""
    found = []
    for entry in entries:
        for measure in entry.get("measures", []):
            if measure["status"] != "active":
                continue
            end = measure.get("end")
            when = next_occurrence(
                measure.get("schedule"),
                start=date.fromisoformat(measure["start"]),
                end=date.fromisoformat(end) if end else None,
                now=now,
            )
            if when is not None:
                found.append((when, measure))
    return min(found, key=lambda pair: pair[0].timestamp()) if found else None


class PlanPart:
    """One column: the next scheduled measure at the board's clock, its time in Norway and the
    unit to call; a mark when measures are on hold."""

    service = "tiltaksplan"
    columns = (board.Column("next_measure", "Neste tiltak"),)
    position = 50
    legend: tuple[dict[str, object], ...] = ()

    def __init__(self, clock: Clock = _wall_clock) -> None:
        self.clock = clock

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        marks = []
        on_hold = sum(1 for e in entries for m in e.get("measures", []) if m["status"] == "on-hold")
        if on_hold:
            marks.append({"text": "på vent", "title": f"{on_hold} tiltak satt på vent"})
        found = next_measure(entries, now=self.clock())
        if found is None:
            return {"next_measure": {"items": [], "marks": marks}} if marks else {}
        when, measure = found
        unit = measure["unit"]
        local = when.astimezone(OSLO)
        text = f"{local:%d.%m. %H:%M} {measure['title']}"
        title = unit["name"] + (f", tlf. {unit['phone']}" if unit.get("phone") else "")
        item = board.item(text, title=title, data={"category": measure["category"]})
        return {"next_measure": {"items": [item], "marks": marks}}


PARTS: Final = (PlanPart(),)
