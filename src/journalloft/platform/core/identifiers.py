"""Norwegian person identifiers (fødselsnummer and its variants) and organisasjonsnummer.

Exceptions::

    ValueError
    └── InvalidPersonId
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal

from journalloft.platform.core.errors import FieldError

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_DIGITS = frozenset("0123456789")

_D_NUMBER_DAY_OFFSET = 40
_H_NUMBER_MONTH_OFFSET = 40
_SYNTHETIC_MONTH_OFFSETS = {"nhn": 65, "tenor": 80}

_SYNTHETIC_BIRTH_ORDINALS = (date(1930, 1, 1).toordinal(), date(2020, 12, 31).toordinal())


class PersonIdKind(StrEnum):
    """What a valid 11-digit person identifier is."""

    FNR = "fnr"
    DNR = "dnr"
    HNR = "hnr"
    FHN = "fhn"
    SYNTHETIC = "synthetic"


class InvalidPersonId(ValueError):
    """A person identifier failed validation; `reason` never contains the identifier."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PersonId:
    """A validated person identifier. `value` and `birth_date` are kept out of `repr`."""

    value: str = field(repr=False)
    kind: PersonIdKind
    synthetic: bool
    birth_date: date | None = field(repr=False)


def _is_ascii_digits(value: str, length: int) -> bool:
    return len(value) == length and all(c in _DIGITS for c in value)


def _weighted_sum(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(w * d for w, d in zip(weights, digits[: len(weights)], strict=True))


def _classic_check_digit(digits: list[int], weights: tuple[int, ...]) -> int | None:
    """Return 11 − (Σ w·d mod 11) with 11 → 0, or None where the result is 10."""
    check = 11 - _weighted_sum(digits, weights) % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def _check_digits_valid(digits: list[int]) -> bool:
    """Classic rule or the 2032 rule: Σ w·d over digits 1–10 (k1 weight 1) leaves 0–3."""
    if _weighted_sum(digits, (*_K1_WEIGHTS, 1)) % 11 > 3:
        return False
    return _classic_check_digit(digits, _K2_WEIGHTS) == digits[10]


def _century(individual: int, year: int) -> int | None:
    if individual <= 499:
        return 1900
    if year <= 39:
        return 2000
    if individual >= 900:
        return 1900
    if individual <= 749 and year >= 54:
        return 1800
    return None


def _individual_ranges(year: int) -> tuple[range, ...]:
    if 1854 <= year <= 1899:
        return (range(500, 750),)
    if 1900 <= year <= 1939:
        return (range(0, 500),)
    if 1940 <= year <= 1999:
        return (range(0, 500), range(900, 1000))
    if 2000 <= year <= 2039:
        return (range(500, 1000),)
    raise ValueError("a birth year outside 1854–2039 cannot be encoded in a person identifier")


def _decode_month(month: int, *, d_number: bool) -> tuple[PersonIdKind, int]:
    if 1 <= month <= 12:
        return (PersonIdKind.DNR if d_number else PersonIdKind.FNR), month
    if 1 <= month - _H_NUMBER_MONTH_OFFSET <= 12:
        if d_number:
            raise InvalidPersonId("a person identifier cannot be both a D-number and an H-number")
        return PersonIdKind.HNR, month - _H_NUMBER_MONTH_OFFSET
    for offset in _SYNTHETIC_MONTH_OFFSETS.values():
        if 1 <= month - offset <= 12:
            return PersonIdKind.SYNTHETIC, month - offset
    raise InvalidPersonId("the month digits of the person identifier are out of range")


def parse_person_id(value: str, *, allow_synthetic: bool) -> PersonId:
    """Validate an 11-digit person identifier and tell what kind it is.

    Accepts fødselsnummer, D-nummer, H-nummer, FH-nummer and, when `allow_synthetic` is true,
    synthetic test numbers (Tenor month +80, NHN month +65, optionally with D-number day +40).
    Check digits are accepted under both the classic rule and the 2032 rule (k1 with remainder
    0–3). Raises `InvalidPersonId` whose reason never contains the identifier.
    """
    if not isinstance(value, str):
        raise InvalidPersonId("a person identifier must be given as a string")
    if not _is_ascii_digits(value, 11):
        raise InvalidPersonId("a person identifier must be exactly 11 ASCII digits")
    digits = [int(c) for c in value]
    if not _check_digits_valid(digits):
        raise InvalidPersonId("the check digits of the person identifier do not match")

    day, month, year = int(value[0:2]), int(value[2:4]), int(value[4:6])
    if digits[0] >= 8:
        return PersonId(value=value, kind=PersonIdKind.FHN, synthetic=False, birth_date=None)

    d_number = day > _D_NUMBER_DAY_OFFSET
    if d_number:
        day -= _D_NUMBER_DAY_OFFSET

    kind, month = _decode_month(month, d_number=d_number)
    century = _century(int(value[6:9]), year)
    if century is None:
        raise InvalidPersonId(
            "the individual number of the person identifier does not fit its birth year"
        )
    try:
        birth_date = date(century + year, month, day)
    except ValueError:
        raise InvalidPersonId(
            "the birth date in the person identifier is not a calendar date"
        ) from None

    synthetic = kind is PersonIdKind.SYNTHETIC
    if synthetic and not allow_synthetic:
        raise InvalidPersonId("synthetic test numbers are not accepted here")
    return PersonId(value=value, kind=kind, synthetic=synthetic, birth_date=birth_date)


def synthetic_person_id(
    rng: random.Random,
    *,
    birth_date: date | None = None,
    style: Literal["tenor", "nhn"] = "tenor",
    d_number: bool = False,
) -> str:
    """Generate a synthetic person identifier that can never be a real person's number.

    The month is offset by +80 (`tenor`, Skatteetaten's Tenor) or +65 (`nhn`), the day by +40 when
    `d_number` is set. Without `birth_date`, a date in 1930–2020 is drawn from `rng`. Check digits
    follow the classic rule, so the number is valid under both the classic and the 2032 rule.
    Raises `ValueError` for a birth year outside 1854–2039, which no individual number encodes.
    """
    if birth_date is None:
        birth_date = date.fromordinal(rng.randint(*_SYNTHETIC_BIRTH_ORDINALS))
    individuals = [i for r in _individual_ranges(birth_date.year) for i in r]
    day = birth_date.day + (_D_NUMBER_DAY_OFFSET if d_number else 0)
    month = birth_date.month + _SYNTHETIC_MONTH_OFFSETS[style]
    prefix = f"{day:02d}{month:02d}{birth_date.year % 100:02d}"
    while True:
        digits = [int(c) for c in f"{prefix}{rng.choice(individuals):03d}"]
        k1 = _classic_check_digit(digits, _K1_WEIGHTS)
        if k1 is None:
            continue
        k2 = _classic_check_digit([*digits, k1], _K2_WEIGHTS)
        if k2 is None:
            continue
        return "".join(map(str, [*digits, k1, k2]))


def parse_organisasjonsnummer(value: str) -> str:
    """Validate a 9-digit organisasjonsnummer (mod-11 check digit) and return it.

    Raises `ValueError` whose message is the reason.
    """
    if not isinstance(value, str) or not _is_ascii_digits(value, 9):
        raise ValueError("an organisasjonsnummer must be a string of exactly 9 ASCII digits")
    digits = [int(c) for c in value]
    if _classic_check_digit(digits[:8], _ORGNR_WEIGHTS) != digits[8]:
        raise ValueError("the check digit of the organisasjonsnummer does not match")
    return value


def person_id_errors(
    values: Iterable[object], *, allow_synthetic: bool, pointer: Callable[[int], str]
) -> list[FieldError]:
    """Every value that is not a valid person identifier, as a :class:`FieldError` at
    ``pointer(index)`` whose message never repeats the value. The one check every face makes
    (HTTP bodies, the command line's files); a value seen twice is checked once."""
    checked: dict[object, str | None] = {}
    errors = []
    for index, value in enumerate(values):
        if value not in checked:
            try:
                if not isinstance(value, str):
                    raise InvalidPersonId("a person id is a string of 11 digits")
                parse_person_id(value, allow_synthetic=allow_synthetic)
                checked[value] = None
            except InvalidPersonId as exc:
                checked[value] = exc.reason
        reason = checked[value]
        if reason is not None:
            errors.append(FieldError(pointer(index), reason))
    return errors


SYNTHETIC_HPR_PREFIX = "99"


def synthetic_hpr_number(rng: random.Random) -> str:
    """A made-up HPR number for demo data: nine digits starting with 99. HPR numbers issued to
    real health personnel have had seven or eight digits, so these cannot be a real person's;
    they still satisfy every HPR rule of the platform (1 to 9 digits, no leading zero)."""
    return SYNTHETIC_HPR_PREFIX + f"{rng.randrange(10_000_000):07d}"
