"""Tiltaksplan on the legevakt board: the next scheduled measure, and whom to call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from journalloft.plugin import OSLO, board


def next_measure(entries: Sequence[board.Entry]) -> tuple[datetime, Mapping[str, Any]] | None:
    """The measure due first, across the municipalities' entries, and when."""
    found = [
        (datetime.fromisoformat(m["next_occurrence"]), m)
        for entry in entries
        for m in entry.get("measures", [])
        if m.get("next_occurrence")
    ]
    return min(found, key=lambda pair: pair[0].timestamp()) if found else None


class PlanPart:
    """One column: the next scheduled measure (as of the lookup the stream last made), its time
    in Norway and the unit to call; how many measures are on hold, as a mark."""

    service = "tiltaksplan"
    columns = (board.Column("next_measure", "Neste tiltak"),)
    position = 50
    legend: tuple[dict[str, object], ...] = ()

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        marks = []
        on_hold = sum(1 for e in entries for m in e.get("measures", []) if m["status"] == "on-hold")
        if on_hold:
            marks.append({"text": "på vent", "title": f"{on_hold} tiltak satt på vent"})
        found = next_measure(entries)
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
