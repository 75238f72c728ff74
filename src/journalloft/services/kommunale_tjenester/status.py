"""Whether a municipal service is active, paused, planned or ended on a given day in Norway."""

from datetime import date
from typing import Final, Literal

Status = Literal["active", "paused", "planned", "ended"]

STATUS_ORDER: Final[dict[Status, int]] = {"active": 0, "planned": 1, "paused": 2, "ended": 3}


def service_status(
    *, start: date, end: date | None, temporary_cessation: bool, today: date
) -> Status:
    """Classify one service on ``today`` (a date in Norway, see ``today_in_oslo``).

    ``end`` is the last day of service, inclusive; None means open-ended. In order of
    precedence: ``ended`` once ``today`` is after ``end``; ``planned`` while ``today`` is before
    ``start`` (even if temporarily stopped); ``paused`` if temporarily stopped; else ``active``.
    """
    if end is not None and end < today:
        return "ended"
    if start > today:
        return "planned"
    if temporary_cessation:
        return "paused"
    return "active"


def sort_key(*, status: Status, start: date) -> tuple[int, int]:
    """Order services by ``STATUS_ORDER``, then the newest start first."""
    return STATUS_ORDER[status], -start.toordinal()
