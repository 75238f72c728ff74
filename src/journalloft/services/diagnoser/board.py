"""Diagnoser on the legevakt board: the person's active diagnoses, the ones a doctor at 02:00
asks about first (dementia, heart failure, diabetes); a suspected one says so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from journalloft.plugin import board
from journalloft.services.diagnoser.status import is_active

UNSURE: Final = {"provisional": "antatt", "differential": "differensialdiagnose"}


class DiagnosesPart:
    """One column: the active diagnoses, in the lookup's order (most recent onset first)."""

    service = "diagnoser"
    columns = (board.Column("diagnoses", "Diagnoser"),)
    position = 30
    legend: tuple[dict[str, object], ...] = ()

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        items = []
        for entry in entries:
            for diagnosis in entry.get("diagnoses", []):
                if not is_active(diagnosis["clinical_status"]):
                    continue
                code = diagnosis["code"]
                text = f"{code['display']} ({code['code']})"
                unsure = UNSURE.get(diagnosis["verification_status"])
                if unsure:
                    text += f", {unsure}"
                items.append(board.item(text, title=f"{code['system']} {code['code']}"))
        return {"diagnoses": {"items": items, "list": True}} if items else {}


PARTS: Final = (DiagnosesPart(),)
