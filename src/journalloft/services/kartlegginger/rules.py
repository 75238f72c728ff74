"""The rules of one assessment beyond its schema: the instrument's item set and score ranges,
the total where the instrument defines one, and the band where a published rule does.

A source-sent total or band that contradicts the rule is refused at its pointer, as NEWS2
refuses a wrong total; a missing item is never scored 0 (an instrument with a total takes all
its items or none); nothing is computed that the instrument does not define.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from journalloft.plugin import FieldError, RecordRejected, optional_date, today_in_oslo
from journalloft.services.kartlegginger.instruments import INSTRUMENTS, Instrument
from journalloft.services.kartlegginger.shapes import AssessmentColumns

HPR: Final = re.compile(r"[1-9][0-9]{6,8}")


def _item_errors(instrument: Instrument, items: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, score in items.items():
        allowed = instrument.items.get(name)
        if allowed is None:
            known = ", ".join(instrument.item_ids()) or "none"
            errors.append(
                FieldError(f"/items/{name}", f"is not an item of {instrument.title} ({known})")
            )
        elif score not in allowed:
            scores = ", ".join(map(str, allowed))
            errors.append(FieldError(f"/items/{name}", f"must be one of {scores}"))
    for group in instrument.either:
        sent = [name for name in group if name in items]
        if len(sent) != 1:
            errors.append(FieldError("/items", f"must score exactly one of {' or '.join(group)}"))
    if not instrument.partial_items:
        alternatives = {name for group in instrument.either for name in group}
        missing = [n for n in instrument.items if n not in items and n not in alternatives]
        if missing:
            errors.append(
                FieldError(
                    "/items",
                    f"misses {', '.join(missing)}: a missing item is never scored 0; "
                    "send every item or none",
                )
            )
    return errors


def checked_total(
    instrument: Instrument, sent: int | None, items: Mapping[str, int] | None
) -> tuple[int | None, list[FieldError]]:
    """The assessment's total (the sum of valid items, else the source's) and its errors."""
    if instrument.total is None:
        if sent is None:
            return None, []
        return None, [FieldError("/total", f"{instrument.title} defines no total; send none")]
    assert instrument.total_range is not None
    low, high = instrument.total_range
    if sent is not None and not low <= sent <= high:
        return None, [FieldError("/total", f"must be {low}–{high} for {instrument.title}")]
    if instrument.total == "sum" and items is not None:
        computed = sum(items.values())
        if sent is not None and sent != computed:
            return None, [
                FieldError("/total", f"must be the sum of the items ({computed}), not {sent}")
            ]
        return computed, []
    if sent is None:
        needs = "the items or the total" if instrument.total == "sum" else "the total"
        return None, [FieldError("/total", f"is required: {instrument.title} needs {needs}")]
    return sent, []


def checked_band(
    instrument: Instrument, sent: str | None, total: int | None
) -> tuple[str | None, str | None, list[FieldError]]:
    """The band and who made it (``rule`` or ``source``), and the band's errors."""
    if instrument.band is not None:
        if total is None:
            return None, None, []
        band = instrument.band(total)
        if sent is not None and sent != band:
            return (
                None,
                None,
                [
                    FieldError(
                        "/band",
                        f"contradicts {instrument.title}'s rule: a total of {total} is {band}",
                    )
                ],
            )
        return band, "rule", []
    if instrument.recorded_bands:
        if sent not in instrument.recorded_bands:
            levels = ", ".join(instrument.recorded_bands)
            return None, None, [FieldError("/band", f"is required: the level assessed ({levels})")]
        return sent, "source", []
    if sent is not None:
        return (
            None,
            None,
            [FieldError("/band", f"{instrument.title} has no published band rule; send none")],
        )
    return None, None, []


def assessment_columns(record: Mapping[str, Any], *, now: datetime) -> AssessmentColumns:
    """Check one schema-valid record against its instrument's rules; return its columns.

    Raises :class:`RecordRejected` with every violation: an item the instrument has not or a
    score out of its range (``/items/<item>``), an incomplete item set where the instrument has
    a total, or items where it has none (``/items``), a total it does not define, out of range
    or not the items' sum (``/total``), a band that contradicts the rule, a band where no rule
    is published, or no level where the source records one (``/band``), an assessment date
    after today in Norway (``/assessed``), an HPR number of the wrong form
    (``/assessed_by/hpr``).
    """
    instrument = INSTRUMENTS[record["instrument"]]
    errors: list[FieldError] = []
    items: dict[str, int] | None = record.get("items")
    if items is not None and not instrument.items:
        errors.append(FieldError("/items", f"{instrument.title} has no items; send none"))
        items = None
    elif items is None and instrument.items_required:
        errors.append(FieldError("/items", f"is required: {instrument.title} is its items"))
    elif items is not None:
        item_errors = _item_errors(instrument, items)
        errors += item_errors
        items = None if item_errors else dict(items)
    total, band, band_by = None, None, None
    if not errors:  # the total and band rules read valid items only
        total, found = checked_total(instrument, record.get("total"), items)
        errors += found
        band, band_by, found = checked_band(instrument, record.get("band"), total)
        errors += found
    today = today_in_oslo(now)
    assessed = optional_date(record["assessed"])
    if assessed is None:
        errors.append(FieldError("/assessed", "is not a valid date (YYYY-MM-DD)"))
    elif assessed > today:
        errors.append(
            FieldError("/assessed", f"must not be after today in Norway ({today.isoformat()})")
        )
    assessed_by = record["assessed_by"]
    hpr = assessed_by.get("hpr")
    if hpr is not None and not HPR.fullmatch(hpr):
        errors.append(
            FieldError("/assessed_by/hpr", "an HPR number is 7 to 9 digits, no leading zero")
        )
    if errors or assessed is None:
        raise RecordRejected(sorted(errors, key=lambda e: e.pointer))
    return {
        "instrument": instrument.code,
        "assessed_on": assessed,
        "total": total,
        "items": items,
        "band": band,
        "band_by": band_by,
        "assessed_by_unit": assessed_by["unit"],
        "assessed_by_hpr": hpr,
        "note": record.get("note"),
    }


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
