"""Kartlegginger on the legevakt board: each instrument's latest assessment with its band and
date (an old score must look old), and the change from the one before."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from journalloft.plugin import board

BAND_TEXT: Final = {
    "not-at-risk": "ikke risiko",
    "at-risk": "risiko",
    "normal": "normal",
    "malnourished": "underernært",
    "very-high": "svært høy risiko",
    "high": "høy",
    "moderate": "moderat risiko",
    "mild": "lett risiko",
    "no-risk": "ingen risiko",
    "low": "lav",
    "medium": "middels",
}


def _text(instrument: Mapping[str, Any]) -> str:
    latest = instrument["latest"]
    text = str(instrument["title"])
    if latest["total"] is not None:
        text += f" {latest['total']}"
    elif latest["items"]:
        text += f" ({len(latest['items'])} variabler)"
    if latest["band"] is not None:
        text += f": {BAND_TEXT[latest['band']]}"
    if instrument["change"]:
        text += f" ({instrument['change']:+d})"
    return text


class AssessmentsPart:
    """One column: the latest assessment per instrument, in the lookup's order."""

    service = "kartlegginger"
    columns = (board.Column("assessments", "Kartlegginger"),)
    position = 35
    legend = (
        board.item(
            "Kartlegginger: siste skår per instrument, med dato; bånd bare der regelen er "
            "publisert (MST, MNA-SF, Braden); fallrisiko som vurdert."
        ),
    )

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        items = []
        for entry in entries:
            for instrument in entry.get("instruments", []):
                latest = instrument["latest"]
                items.append(
                    board.item(
                        _text(instrument),
                        title=f"{instrument['title']} ({instrument['version']}), "
                        f"{latest['assessed_by']['unit']}",
                        data={"band": latest["band"]} if latest["band"] else None,
                        since=latest["assessed"],
                    )
                )
        return {"assessments": {"items": items, "list": True}} if items else {}


PARTS: Final = (AssessmentsPart(),)
