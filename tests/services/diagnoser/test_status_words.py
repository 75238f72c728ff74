"""The words of each status rule's refusal (FHIR Condition con-3, con-4, con-5), as a journal
system's developer reads them."""

from __future__ import annotations

from journalloft.plugin import FieldError
from journalloft.services.diagnoser.status import status_errors


def test_entered_in_error_with_a_clinical_status() -> None:
    assert status_errors(clinical="active", verification="entered-in-error", abated=False) == [
        FieldError(
            "/clinical_status",
            "must be null when verification_status is entered-in-error: a record entered in "
            "error has no clinical status (FHIR Condition con-5)",
        )
    ]


def test_no_clinical_status_otherwise() -> None:
    assert status_errors(clinical=None, verification="confirmed", abated=False) == [
        FieldError(
            "/clinical_status",
            "is required when verification_status is confirmed; only a record entered in error "
            "has none",
        )
    ]


def test_an_abatement_of_an_active_or_missing_status() -> None:
    assert status_errors(clinical="active", verification="confirmed", abated=True) == [
        FieldError(
            "/abatement",
            "is only allowed when clinical_status is inactive, remission or resolved "
            "(FHIR Condition con-4), not active",
        )
    ]
    assert status_errors(clinical=None, verification="entered-in-error", abated=True) == [
        FieldError(
            "/abatement",
            "is only allowed when clinical_status is inactive, remission or resolved "
            "(FHIR Condition con-4), not null",
        )
    ]
