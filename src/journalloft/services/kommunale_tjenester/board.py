"""Kommunale tjenester on the legevakt board: the services the person has that have not ended,
each with its status and whom to call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from journalloft.plugin import board

STATUS: Final = {"active": "aktiv", "planned": "planlagt", "paused": "pause", "ended": "avsluttet"}


class ServicesPart:
    """One column: the municipal services, one line each."""

    service = "kommunale-tjenester"
    columns = (board.Column("services", "Kommunale tjenester"),)
    position = 20
    legend: tuple[dict[str, object], ...] = ()

    def cells(self, entries: Sequence[board.Entry]) -> Mapping[str, board.Cell]:
        items = []
        for entry in entries:
            for service in entry.get("services", []):
                status = service["status"]
                if status == "ended":
                    continue
                unit = service.get("unit")
                whom = ""
                if unit:
                    phone = f", tlf. {unit['phone']}" if unit.get("phone") else ""
                    whom = f" – {unit['name']}{phone}"
                text = f"{service['service_name']} ({STATUS.get(status, status)}){whom}"
                items.append(board.item(text, **{"class": f"status-{status}"}))
        return {"services": {"items": items, "list": True}} if items else {}


PARTS: Final = (ServicesPart(),)
