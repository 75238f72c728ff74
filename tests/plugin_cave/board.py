"""CAVE's column on the legevakt board: every entry, one line each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from journalloft.plugin import board


class CavePart:
    service = "cave"
    columns = (board.Column("cave", "CAVE"),)
    position = 40
    legend: tuple[dict[str, object], ...] = ()

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        items = [
            board.item(f"{e['kind']}: {e['text']}") for entry in entries for e in entry["entries"]
        ]
        return {"cave": {"items": items, "list": True}} if items else {}


PARTS: Final = (CavePart(),)
