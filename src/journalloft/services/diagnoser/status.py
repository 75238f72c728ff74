"""Clinical and verification status with FHIR Condition's meanings, and what a lookup shows.

The statuses are FHIR R4 Condition's (``condition-clinical``, ``condition-ver-status``). The rules
enforced at ingest are FHIR's own invariants, made hard rules:

- ``entered-in-error`` has no clinical status (con-5): ``clinical_status`` must be null, and
  every other verification status needs one (con-3, a guideline in FHIR for problem-list items;
  here every record is one).
- an abatement date only with ``inactive``, ``remission`` or ``resolved`` (con-4).

Every other combination is allowed: FHIR has no rule against, say, a ``differential`` diagnosis
in ``remission``. What a lookup shows follows from the two statuses alone: ``refuted`` and
``entered-in-error`` never leave the platform; ``active``, ``recurrence`` and ``relapse`` are
*active*; ``inactive``, ``remission`` and ``resolved`` are shown for a window of years after they
became inactive (the abatement date, or else the day of the source's last update).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal

from journalloft.plugin import FieldError, today_in_oslo

ClinicalStatus = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
VerificationStatus = Literal[
    "confirmed", "provisional", "differential", "refuted", "entered-in-error"
]

CLINICAL_STATUSES: Final[tuple[ClinicalStatus, ...]] = (
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
)
VERIFICATION_STATUSES: Final[tuple[VerificationStatus, ...]] = (
    "confirmed",
    "provisional",
    "differential",
    "refuted",
    "entered-in-error",
)
ACTIVE: Final[frozenset[str]] = frozenset({"active", "recurrence", "relapse"})
INACTIVE: Final[frozenset[str]] = frozenset({"inactive", "remission", "resolved"})
NEVER_SHARED: Final[frozenset[str]] = frozenset({"refuted", "entered-in-error"})
ENTERED_IN_ERROR: Final = "entered-in-error"


def status_errors(*, clinical: str | None, verification: str, abated: bool) -> list[FieldError]:
    """Violations of the status rules (pointers relative to the record)."""
    errors = []
    if verification == ENTERED_IN_ERROR and clinical is not None:
        errors.append(
            FieldError(
                "/clinical_status",
                "must be null when verification_status is entered-in-error: a record entered "
                "in error has no clinical status (FHIR Condition con-5)",
            )
        )
    if verification != ENTERED_IN_ERROR and clinical is None:
        errors.append(
            FieldError(
                "/clinical_status",
                f"is required when verification_status is {verification}; only a record "
                "entered in error has none",
            )
        )
    if abated and clinical not in INACTIVE:
        errors.append(
            FieldError(
                "/abatement",
                "is only allowed when clinical_status is inactive, remission or resolved "
                f"(FHIR Condition con-4), not {clinical or 'null'}",
            )
        )
    return errors


def is_active(clinical: str | None) -> bool:
    return clinical in ACTIVE


def inactive_on(*, clinical: str | None, abatement: date | None, updated: datetime) -> date | None:
    """The day an inactive, remitted or resolved diagnosis counts from for the window: its
    abatement, or else the day (in Norway) of the source's last update. None for the others."""
    if clinical not in INACTIVE:
        return None
    return abatement if abatement is not None else today_in_oslo(updated)


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def sort_key(
    *,
    clinical: str | None,
    onset: date | None,
    inactive_since: date | None,
    system: str,
    code: str,
    record_id: str,
) -> tuple[int, int, int, int, str, str, str]:
    """Active diagnoses first, the most recent onset first and unknown onset last; then the
    others, the most recently inactive first (then by onset likewise); ties by code and id."""
    newest_onset = -onset.toordinal() if onset is not None else 0
    unknown_onset = 1 if onset is None else 0
    if is_active(clinical):
        return 0, 0, unknown_onset, newest_onset, system, code, record_id
    newest_inactive = -inactive_since.toordinal() if inactive_since is not None else 0
    return 1, newest_inactive, unknown_onset, newest_onset, system, code, record_id
