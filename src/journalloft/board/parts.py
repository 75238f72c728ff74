"""What a service brings to the legevakt board: its columns, and their cells made from what the
service's event stream says about one person.

A service lists its part on its spec, ``face_parts = {"board": (part,)}``, reaching this module
through its one door (``from journalloft.plugin import board``). The board follows the stream
of every service it has a part for and its client may read, and renders every part's cells
alike: the page knows no service.

A cell is plain JSON the page shows as it is (text only, never markup)::

    {"items": [{"text": "7", "class": "score high", "title": "Risiko: høy",
                "data": {"risk": "high"}}],
     "list": false,          # the items as a list (one line each), else side by side
     "marks": [{"text": "ufullstendig", "title": "Ikke målt: spo2"}]}

An item with ``"since": <RFC 3339 instant>`` shows how long ago that was, kept current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Cell = dict[str, Any]
Entry = Mapping[str, Any]
"""What the service's stream last said about the person in one municipality: the lookup's
result entry (``patient``, ``kommunenummer`` and the service's result fields)."""


@dataclass(frozen=True)
class Column:
    key: str
    """The cell's key in a row, and the table cell's class on the page."""
    title: str
    """The column's heading."""


@runtime_checkable
class BoardPart(Protocol):
    """A service's columns on the board."""

    service: str
    """The name of the service whose stream it reads."""
    columns: tuple[Column, ...]
    position: int
    """Where its columns stand on the board, left to right: lower first."""
    legend: tuple[dict[str, Any], ...]
    """Items under the board that explain its cells (NEWS2's risk bands), or none."""

    def cells(self, entries: Sequence[Entry]) -> Mapping[str, Cell]:
        """One person's cells, by column key, from the service's entries for them in every
        municipality that shares it (none restricted); a column without a cell shows "–"."""
        ...


def item(text: str, **attributes: Any) -> dict[str, Any]:
    """One item of a cell: its text, and ``class``, ``title``, ``data``, ``since`` if given."""
    return {"text": text, **{k: v for k, v in attributes.items() if v is not None}}


RESERVED = frozenset({"patient", "marks", "remove"})
"""The board's own columns."""


def parts_checked(parts: Sequence[object]) -> list[BoardPart]:
    """Board parts, checked (each a :class:`BoardPart`, no column key used twice or one of the
    board's own), in their :attr:`~BoardPart.position`."""
    found: list[BoardPart] = []
    keys: set[str] = set(RESERVED)
    for part in parts:
        if not isinstance(part, BoardPart):
            raise TypeError(f"a board part is not a BoardPart: {part!r}")
        for column in part.columns:
            if column.key in keys:
                raise TypeError(f"two board columns are called {column.key}")
            keys.add(column.key)
        found.append(part)
    return sorted(found, key=lambda part: part.position)


__all__ = ["BoardPart", "Cell", "Column", "Entry", "item", "parts_checked"]
