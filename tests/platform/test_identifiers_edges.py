"""The person identifier's rules at every edge (DOMAIN.md §3 and Skatteetaten's series), with the
check digits computed here from DOMAIN.md's weights, not by identifiers.py.

Individual number series: 000-499 born 1900-1999; 500-749 with year 54-99 born 1854-1899; 500-999
with year 00-39 born 2000-2039; 900-999 with year 40-99 born 1940-1999; anything else is refused.
D-nummer: day +40; H-nummer: month +40; synthetic: month +65 (NHN) or +80 (Tenor); FH-nummer:
first digit 8 or 9. Each is tested on the edge and beside it.
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from journalloft.platform.core.identifiers import (
    InvalidPersonId,
    PersonIdKind,
    parse_organisasjonsnummer,
    parse_person_id,
    person_id_errors,
    synthetic_hpr_number,
    synthetic_person_id,
)

K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    result = 11 - sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11
    return 0 if result == 11 else None if result == 10 else result


def complete(first_nine: str) -> str | None:
    """The 11 digits with classic check digits; None if either would be 10."""
    k1 = check_digit(first_nine, K1)
    if k1 is None:
        return None
    k2 = check_digit(f"{first_nine}{k1}", K2)
    return None if k2 is None else f"{first_nine}{k1}{k2}"


def number(ddmmyy: str, individual: int) -> str:
    """A valid number with this date part and the first individual number from ``individual``
    on whose check digits are not 10 (within the same series: the last two digits move)."""
    for candidate in range(individual, individual + 10):
        found = complete(f"{ddmmyy}{candidate:03d}")
        if found is not None:
            return found
    raise AssertionError("no check digits")  # pragma: no cover


def exact(ddmmyy: str, individual: int) -> str | None:
    return complete(f"{ddmmyy}{individual:03d}")


# (individual number, two-digit year) -> year of birth, or None when refused
SERIES = [
    (0, 0, 1900),
    (499, 0, 1900),
    (499, 99, 1999),
    (500, 53, None),
    (500, 54, 1854),
    (749, 99, 1899),
    (750, 54, None),
    (899, 99, None),
    (750, 99, None),
    (500, 0, 2000),
    (500, 39, 2039),
    (999, 39, 2039),
    (500, 40, None),
    (899, 40, None),
    (900, 40, 1940),
    (999, 99, 1999),
]


@pytest.mark.parametrize(("individual", "year", "born"), SERIES)
def test_the_individual_number_series_at_their_edges(
    individual: int, year: int, born: int | None
) -> None:
    """The individual number exactly on the edge; the day moves until its check digits exist."""
    day, value = next(
        (day, found)
        for day in range(1, 29)
        if (found := exact(f"{day:02d}01{year:02d}", individual)) is not None
    )
    if born is None:
        with pytest.raises(InvalidPersonId, match="individual number"):
            parse_person_id(value, allow_synthetic=False)
    else:
        assert parse_person_id(value, allow_synthetic=False).birth_date == date(born, 1, day)


@pytest.mark.parametrize(
    ("ddmm", "kind", "birth"),
    [
        ("0101", PersonIdKind.FNR, (1, 1)),
        ("3112", PersonIdKind.FNR, (31, 12)),
        ("4101", PersonIdKind.DNR, (1, 1)),
        ("7112", PersonIdKind.DNR, (31, 12)),
        ("0141", PersonIdKind.HNR, (1, 1)),
        ("3152", PersonIdKind.HNR, (31, 12)),
        ("0166", PersonIdKind.SYNTHETIC, (1, 1)),
        ("3177", PersonIdKind.SYNTHETIC, (31, 12)),
        ("0181", PersonIdKind.SYNTHETIC, (1, 1)),
        ("3192", PersonIdKind.SYNTHETIC, (31, 12)),
        ("4181", PersonIdKind.SYNTHETIC, (1, 1)),
    ],
)
def test_day_and_month_offsets_on_their_edges(
    ddmm: str, kind: PersonIdKind, birth: tuple[int, int]
) -> None:
    parsed = parse_person_id(number(f"{ddmm}85", 100), allow_synthetic=True)
    assert parsed.kind is kind
    assert parsed.birth_date == date(1985, birth[1], birth[0])
    assert parsed.synthetic == (kind is PersonIdKind.SYNTHETIC)


@pytest.mark.parametrize(
    "ddmm", ["0001", "3201", "4001", "7201", "0100", "0113", "0140", "0153", "0165", "0178",
             "0180", "0193", "4141"]
)  # fmt: skip
def test_just_beside_each_offset_is_refused(ddmm: str) -> None:
    with pytest.raises(InvalidPersonId):
        parse_person_id(number(f"{ddmm}85", 100), allow_synthetic=True)


@pytest.mark.parametrize(("first", "fh"), [("7", False), ("8", True), ("9", True)])
def test_fh_numbers_start_at_8(first: str, fh: bool) -> None:
    value = number(f"{first}10185", 100)
    if fh:
        assert parse_person_id(value, allow_synthetic=False).kind is PersonIdKind.FHN
    else:
        # day 71 is a D-number's 31st
        assert parse_person_id(value, allow_synthetic=False).kind is PersonIdKind.DNR


def test_synthetic_numbers_are_refused_where_they_are_not_allowed() -> None:
    value = number("018185", 100)
    assert parse_person_id(value, allow_synthetic=True).synthetic
    with pytest.raises(InvalidPersonId, match="synthetic"):
        parse_person_id(value, allow_synthetic=False)


def test_person_id_errors_points_at_each_bad_value_without_repeating_it() -> None:
    good, bad = number("010185", 100), "01018510000"
    assert complete(bad[:9]) != bad  # its check digits do not match
    errors = person_id_errors(
        [good, bad, 12345678901, bad, None], allow_synthetic=False, pointer=lambda i: f"/p/{i}"
    )
    assert [e.pointer for e in errors] == ["/p/1", "/p/2", "/p/3", "/p/4"]
    assert errors[0].message == errors[2].message  # the same value, the same reason
    assert "string" in errors[1].message
    assert all(bad not in e.message for e in errors)
    assert person_id_errors([good, good], allow_synthetic=False, pointer=str) == []
    synthetic = number("018185", 100)
    assert person_id_errors([synthetic], allow_synthetic=True, pointer=str) == []
    [refused] = person_id_errors([synthetic], allow_synthetic=False, pointer=str)
    assert refused.pointer == "0"


@pytest.mark.parametrize("year", [1854, 1899, 1900, 1939, 1940, 1999, 2000, 2039])
@pytest.mark.parametrize("style", ["tenor", "nhn"])
def test_generated_numbers_at_the_series_edges_parse_back(year: int, style: str) -> None:
    rng = random.Random(f"{year}-{style}")
    for birth in (date(year, 1, 1), date(year, 12, 31)):
        for _ in range(60):
            value = synthetic_person_id(rng, birth_date=birth, style=style)  # type: ignore[arg-type]
            assert parse_person_id(value, allow_synthetic=True).birth_date == birth


@pytest.mark.parametrize("year", [1853, 2040])
def test_no_number_is_generated_beyond_the_series(year: int) -> None:
    with pytest.raises(ValueError, match="1854"):
        synthetic_person_id(random.Random(1), birth_date=date(year, 6, 1))


def _bad_check_digits(value: str) -> str:
    return value[:10] + str((int(value[10]) + 1) % 10)


REASONS = {
    "not a string": (12345678901, "a person identifier must be given as a string"),
    "10 digits": ("0101851000", "a person identifier must be exactly 11 ASCII digits"),
    "check digits": (
        _bad_check_digits(number("010185", 100)),
        "the check digits of the person identifier do not match",
    ),
    "D and H at once": (
        number("414185", 100),
        "a person identifier cannot be both a D-number and an H-number",
    ),
    "day 40 of an H month": (
        number("404185", 100),
        "the birth date in the person identifier is not a calendar date",
    ),
    "month 13": (
        number("011385", 100),
        "the month digits of the person identifier are out of range",
    ),
    "series": (
        number("010140", 500),
        "the individual number of the person identifier does not fit its birth year",
    ),
    "30 February": (
        number("300285", 100),
        "the birth date in the person identifier is not a calendar date",
    ),
    "synthetic": (number("018185", 100), "synthetic test numbers are not accepted here"),
}


@pytest.mark.parametrize(("value", "reason"), list(REASONS.values()), ids=list(REASONS))
def test_each_refusal_gives_its_reason(value: object, reason: str) -> None:
    with pytest.raises(InvalidPersonId) as refused:
        parse_person_id(value, allow_synthetic=False)  # type: ignore[arg-type]
    assert refused.value.reason == reason
    assert str(refused.value) == reason
    [error] = person_id_errors([value], allow_synthetic=False, pointer=str)
    expected = "a person id is a string of 11 digits" if not isinstance(value, str) else reason
    assert error.message == expected


def test_organisasjonsnummer_refusals_give_their_reason() -> None:
    with pytest.raises(
        ValueError, match=r"^an organisasjonsnummer must be a string of exactly 9 ASCII digits$"
    ):
        parse_organisasjonsnummer("97241801")
    with pytest.raises(
        ValueError, match=r"^the check digit of the organisasjonsnummer does not match$"
    ):
        parse_organisasjonsnummer("972418014")
    assert parse_organisasjonsnummer("972418013") == "972418013"


def test_a_birth_year_beyond_the_series_is_refused_in_words() -> None:
    with pytest.raises(
        ValueError,
        match=r"^a birth year outside 1854–2039 cannot be encoded in a person identifier$",
    ):
        synthetic_person_id(random.Random(1), birth_date=date(2040, 1, 1))


SERIES_OF_YEARS = {
    1854: (500, 749),
    1899: (500, 749),
    1900: (0, 499),
    1939: (0, 499),
    1940: (0, 999),
    1999: (0, 999),
    2000: (500, 999),
    2039: (500, 999),
}


@pytest.mark.parametrize(("year", "edges"), list(SERIES_OF_YEARS.items()))
def test_generated_individual_numbers_reach_their_series_edges_and_no_further(
    year: int, edges: tuple[int, int]
) -> None:
    """Over many draws on every day of January the generator uses its series up to each edge
    (not a narrower range) and never beyond (each number parses back to its birth date)."""
    rng = random.Random(year)
    seen = set()
    for day in range(1, 29):
        birth = date(year, 1, day)
        for _ in range(60):
            value = synthetic_person_id(rng, birth_date=birth)
            assert parse_person_id(value, allow_synthetic=True).birth_date == birth
            seen.add(int(value[6:9]))
    assert (min(seen), max(seen)) == edges
    if year in (1940, 1999):  # two series: 000-499 and 900-999, both reached at their edges
        assert not seen & set(range(500, 900))
        assert {499, 900} <= seen


def test_generated_numbers_are_not_d_numbers_unless_asked() -> None:
    rng = random.Random(7)
    for _ in range(50):
        assert parse_person_id(synthetic_person_id(rng), allow_synthetic=True).kind is (
            PersonIdKind.SYNTHETIC
        )
        assert synthetic_person_id(rng)[0] in "0123"
        assert synthetic_person_id(rng, d_number=True)[0] in "4567"


def test_synthetic_hpr_numbers_are_nine_digits_from_99() -> None:
    rng = random.Random(3)
    for _ in range(200):
        value = synthetic_hpr_number(rng)
        assert len(value) == 9
        assert value.startswith("99")
        assert value.isdigit()
