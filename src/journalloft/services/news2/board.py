"""NEWS2 on the legevakt board: the newest score with its risk band, its trend and when it was
measured; an incomplete set and a score the source made are marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from journalloft.plugin import board

RISK_TEXT: Final = {"low": "lav", "low-medium": "lav–middels", "medium": "middels", "high": "høy"}
TREND: Final = {"rising": "↑ stigende", "falling": "↓ fallende", "stable": "→ uendret"}


class News2Part:
    """NEWS2's columns: the score, its trend, how long ago it was measured."""

    service = "news2"
    columns = (
        board.Column("news2", "NEWS2"),
        board.Column("trend", "Trend"),
        board.Column("age", "Målt"),
    )
    position = 10
    legend = (
        board.item("0–4 lav", **{"class": "band low"}),
        board.item("3 i én parameter: lav–middels", **{"class": "band low-medium"}),
        board.item("5–6 middels", **{"class": "band medium"}),
        board.item("≥7 høy", **{"class": "band high"}),
        board.item("ufullstendig sett", **{"class": "band unknown"}),
        board.item("NEWS2 etter RCP 2017."),
    )

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        measured = [e for e in entries if "latest" in e]
        if not measured:
            return {}
        newest = max(measured, key=lambda e: e["latest"]["effective"])
        latest, trend = newest["latest"], newest.get("trend")
        score = latest["score"]
        band = score["risk"] or "unknown"
        total = str(score["total"]) if score["complete"] else f"≥{score['total']}"
        title = f"Risiko: {RISK_TEXT[score['risk']]}" if score["risk"] else "Ufullstendig sett"
        marks = []
        if not score["complete"]:
            unscored = [k for k, v in score["parameters"].items() if v is None]
            marks.append(board.item("ufullstendig", title=f"Ikke målt: {', '.join(unscored)}"))
        if score.get("scored_by") == "source":
            marks.append(
                board.item(
                    "skåret av kilden",
                    title="Skåren er regnet ut av journalsystemet, ikke av plattformen",
                )
            )
        cells: dict[str, board.Cell] = {
            "news2": {
                "items": [
                    board.item(
                        total, title=title, data={"risk": band}, **{"class": f"score {band}"}
                    )
                ],
                "marks": marks,
            },
            "age": {"items": [board.item("", since=latest["effective"])]},
        }
        if trend:
            cells["trend"] = {"items": [board.item(TREND[trend["change"]])]}
        return cells


PARTS: Final = (News2Part(),)
