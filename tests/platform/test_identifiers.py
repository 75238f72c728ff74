"""Person identifiers and organisasjonsnummer against DOMAIN.md §3 and Skatteetaten's rules.

The builders here compute check digits in the "weighted sum including the check digit is 0 mod 11"
form, independently of the implementation's "11 − remainder" form.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from journalloft.platform.core.identifiers import (
    InvalidPersonId,
    PersonIdKind,
    parse_organisasjonsnummer,
    parse_person_id,
    synthetic_person_id,
)

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def complete(first_nine: str, *, k1_remainder: int = 0) -> str | None:
    """Append k1 and k2 to nine digits, or return None where no check digit exists."""
    for k1 in "0123456789":
        ten = first_nine + k1
        if sum(w * int(d) for w, d in zip(K1_WEIGHTS, ten, strict=True)) % 11 != k1_remainder:
            continue
        for k2 in "0123456789":
            eleven = ten + k2
            if sum(w * int(d) for w, d in zip(K2_WEIGHTS, eleven, strict=True)) % 11 == 0:
                return eleven
    return None


def with_check_digits(first_six: str, individual: int, *, k1_remainder: int = 0) -> str:
    """Complete a number, trying individual numbers upward from `individual` until one works."""
    for candidate in range(individual, min(individual + 50, 1000)):
        number = complete(f"{first_six}{candidate:03d}", k1_remainder=k1_remainder)
        if number is not None:
            return number
    raise AssertionError("no individual number near the one asked for has check digits")


def person_id(
    birth: date,
    individual: int,
    *,
    day_offset: int = 0,
    month_offset: int = 0,
    k1_remainder: int = 0,
) -> str:
    first_six = (
        f"{birth.day + day_offset:02d}{birth.month + month_offset:02d}{birth.year % 100:02d}"
    )
    number = with_check_digits(first_six, individual, k1_remainder=k1_remainder)
    assert individual_fits(int(number[6:9]), birth.year)
    return number


def individual_fits(individual: int, year: int) -> bool:
    """Skatteetaten's individual number series per birth year."""
    return (
        (0 <= individual <= 499 and 1900 <= year <= 1999)
        or (500 <= individual <= 749 and 1854 <= year <= 1899)
        or (500 <= individual <= 999 and 2000 <= year <= 2039)
        or (900 <= individual <= 999 and 1940 <= year <= 1999)
    )


def reason_of(value: Any, *, allow_synthetic: bool = True) -> str:
    with pytest.raises(InvalidPersonId) as caught:
        parse_person_id(value, allow_synthetic=allow_synthetic)
    return caught.value.reason


UNBORN = date(2038, 6, 15)  # not yet born: no real person has these numbers


@pytest.mark.parametrize(
    ("value", "birth_date"),
    [("22750884907", date(2008, 10, 22)), ("19779998080", date(1999, 12, 19))],
)
def test_nhn_okt_test_persons_are_synthetic_with_their_birth_date(
    value: str, birth_date: date
) -> None:
    parsed = parse_person_id(value, allow_synthetic=True)

    assert parsed.kind is PersonIdKind.SYNTHETIC
    assert parsed.synthetic
    assert parsed.birth_date == birth_date


@pytest.mark.parametrize("value", ["22750884907", "19779998080"])
def test_nhn_okt_test_persons_are_refused_in_production(value: str) -> None:
    assert "synthetic" in reason_of(value, allow_synthetic=False)


def test_fodselsnummer() -> None:
    parsed = parse_person_id(person_id(UNBORN, 612), allow_synthetic=False)

    assert (parsed.kind, parsed.synthetic, parsed.birth_date) == (
        PersonIdKind.FNR,
        False,
        UNBORN,
    )


def test_d_number_has_day_plus_40() -> None:
    parsed = parse_person_id(person_id(UNBORN, 612, day_offset=40), allow_synthetic=False)

    assert (parsed.kind, parsed.birth_date) == (PersonIdKind.DNR, UNBORN)


def test_h_number_has_month_plus_40_and_is_not_synthetic() -> None:
    parsed = parse_person_id(person_id(UNBORN, 612, month_offset=40), allow_synthetic=False)

    assert (parsed.kind, parsed.synthetic, parsed.birth_date) == (
        PersonIdKind.HNR,
        False,
        UNBORN,
    )


def test_d_number_cannot_also_be_an_h_number() -> None:
    value = person_id(UNBORN, 612, day_offset=40, month_offset=40)

    assert "D-number" in reason_of(value)


@pytest.mark.parametrize("first_nine", ["812345678", "900000000", "899999999"])
def test_fh_number_has_no_birth_date(first_nine: str) -> None:
    value = complete(first_nine)
    assert value is not None

    parsed = parse_person_id(value, allow_synthetic=False)

    assert (parsed.kind, parsed.synthetic, parsed.birth_date) == (PersonIdKind.FHN, False, None)


def test_fh_number_still_needs_check_digits() -> None:
    value = complete("812345678")
    assert value is not None
    broken = value[:10] + str((int(value[10]) + 1) % 10)

    assert "check digits" in reason_of(broken)


@pytest.mark.parametrize("k1_remainder", [1, 2, 3])
def test_2032_rule_accepts_k1_with_remainder_1_to_3(k1_remainder: int) -> None:
    value = person_id(date(2037, 3, 14), 500, k1_remainder=k1_remainder)
    classic = complete(value[:9])
    assert classic is not None
    assert value[9] != classic[9]

    assert parse_person_id(value, allow_synthetic=False).birth_date == date(2037, 3, 14)


def test_k1_with_remainder_4_is_rejected() -> None:
    value = person_id(date(2037, 3, 14), 500, k1_remainder=4)

    assert "check digits" in reason_of(value)


def test_k2_is_never_relaxed() -> None:
    value = person_id(date(2037, 3, 14), 500, k1_remainder=2)
    broken = value[:10] + str((int(value[10]) + 1) % 10)

    assert "check digits" in reason_of(broken)


@pytest.mark.parametrize(("year", "individual"), [(1900, 123), (2001, 512), (1985, 123)])
def test_29_february_is_rejected_outside_leap_years(year: int, individual: int) -> None:
    value = with_check_digits(f"2902{year % 100:02d}", individual)

    assert "calendar date" in reason_of(value)


@pytest.mark.parametrize(("year", "individual"), [(2036, 512), (2032, 600), (2028, 950)])
def test_29_february_in_leap_years(year: int, individual: int) -> None:
    value = person_id(date(year, 2, 29), individual)

    assert parse_person_id(value, allow_synthetic=False).birth_date == date(year, 2, 29)


@pytest.mark.parametrize(
    ("first_six", "individual", "what"),
    [
        ("310485", 120, "calendar date"),
        ("000185", 120, "calendar date"),
        ("401285", 120, "calendar date"),
        ("721285", 120, "calendar date"),
        ("011385", 120, "month"),
        ("010085", 120, "month"),
        ("015385", 120, "month"),
        ("016585", 120, "month"),
        ("017885", 120, "month"),
        ("019385", 120, "month"),
        ("010150", 800, "individual number"),
        ("010145", 600, "individual number"),
    ],
)
def test_invalid_dates_months_and_series(first_six: str, individual: int, what: str) -> None:
    assert what in reason_of(with_check_digits(first_six, individual))


def test_century_comes_from_the_individual_number() -> None:
    # Past centuries are shown on synthetic numbers (month + 80): no real person's number.
    for birth, individual in [(date(1940, 5, 1), 950), (date(1860, 5, 1), 700)]:
        synthetic = person_id(birth, individual, month_offset=80)
        assert parse_person_id(synthetic, allow_synthetic=True).birth_date == birth
    future = person_id(date(2039, 5, 1), 950)
    assert parse_person_id(future, allow_synthetic=False).birth_date == date(2039, 5, 1)


@pytest.mark.parametrize(
    "value",
    [
        12345678901,
        None,
        b"22750884907",
        "",
        "2275088490",
        "227508849070",
        " 22750884907",
        "22750884907\n",
        "227508 84907",
        "2275088490\u0667",
        "\uff12\uff12750884907",
        "22750884907".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    ],
)
def test_only_exactly_11_ascii_digits_in_a_string(value: Any) -> None:
    reason_of(value)


@st.composite
def valid_person_ids(draw: st.DrawFn) -> tuple[str, PersonIdKind, date | None]:
    kind = draw(st.sampled_from(PersonIdKind))
    k1_remainder = draw(st.integers(0, 3))
    if kind is PersonIdKind.FHN:
        first_nine = f"{draw(st.sampled_from('89'))}{draw(st.integers(0, 10**8 - 1)):08d}"
        birth = None
    else:
        # Real kinds only with birth dates still in the future, so that no real person's number
        # is ever generated; synthetic kinds over the whole range.
        earliest = date(1854, 1, 1) if kind is PersonIdKind.SYNTHETIC else date(2027, 1, 1)
        birth = draw(st.dates(earliest, date(2039, 12, 31)))
        individual = draw(
            st.sampled_from([i for i in range(1000) if individual_fits(i, birth.year)])
        )
        day_offset = 40 if kind is PersonIdKind.DNR else 0
        month_offset = 40 if kind is PersonIdKind.HNR else 0
        if kind is PersonIdKind.SYNTHETIC:
            day_offset = draw(st.sampled_from([0, 40]))
            month_offset = draw(st.sampled_from([65, 80]))
        first_nine = (
            f"{birth.day + day_offset:02d}{birth.month + month_offset:02d}"
            f"{birth.year % 100:02d}{individual:03d}"
        )
    value = complete(first_nine, k1_remainder=k1_remainder)
    assume(value is not None)
    assert value is not None
    return value, kind, birth


@given(valid_person_ids())
def test_every_valid_number_parses_to_its_kind_and_birth_date(
    case: tuple[str, PersonIdKind, date | None],
) -> None:
    value, kind, birth = case

    parsed = parse_person_id(value, allow_synthetic=True)

    assert (parsed.value, parsed.kind, parsed.birth_date) == (value, kind, birth)
    assert parsed.synthetic is (kind is PersonIdKind.SYNTHETIC)


@given(valid_person_ids(), st.integers(0, 10), st.integers(1, 9))
def test_any_single_digit_substitution_is_detected(
    case: tuple[str, PersonIdKind, date | None], position: int, shift: int
) -> None:
    value = case[0]
    changed = value[:position] + str((int(value[position]) + shift) % 10) + value[position + 1 :]

    reason_of(changed)


@given(valid_person_ids())
def test_production_refuses_exactly_the_synthetic_numbers(
    case: tuple[str, PersonIdKind, date | None],
) -> None:
    value, kind, _ = case
    if kind is PersonIdKind.SYNTHETIC:
        assert "synthetic" in reason_of(value, allow_synthetic=False)
    else:
        assert parse_person_id(value, allow_synthetic=False).kind is kind


@given(
    st.integers(0, 2**32),
    st.sampled_from(["tenor", "nhn"]),
    st.booleans(),
    st.none() | st.dates(date(1854, 1, 1), date(2039, 12, 31)),
)
def test_generated_synthetic_numbers_parse_as_synthetic(
    seed: int, style: Any, d_number: bool, birth: date | None
) -> None:
    value = synthetic_person_id(
        random.Random(seed), birth_date=birth, style=style, d_number=d_number
    )

    parsed = parse_person_id(value, allow_synthetic=True)

    assert parsed.synthetic
    assert parsed.kind is PersonIdKind.SYNTHETIC
    assert parsed.birth_date is not None
    assert int(value[2:4]) - parsed.birth_date.month == (80 if style == "tenor" else 65)
    assert (int(value[0]) >= 4) is d_number
    if birth is None:
        assert date(1930, 1, 1) <= parsed.birth_date <= date(2020, 12, 31)
    else:
        assert parsed.birth_date == birth
    assert "synthetic" in reason_of(value, allow_synthetic=False)


def test_generator_is_reproducible_from_the_seed() -> None:
    assert synthetic_person_id(random.Random(7)) == synthetic_person_id(random.Random(7))


def test_generator_refuses_a_birth_year_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="1854"):
        synthetic_person_id(random.Random(1), birth_date=date(1850, 1, 1))


@given(
    st.from_regex(r"[0-9]{11}", fullmatch=True)
    | valid_person_ids().map(lambda case: case[0][:10] + str((int(case[0][10]) + 1) % 10)),
    st.booleans(),
)
def test_reason_never_contains_the_number(value: str, allow_synthetic: bool) -> None:
    try:
        parse_person_id(value, allow_synthetic=allow_synthetic)
    except InvalidPersonId as caught:
        error = caught
    else:
        return
    assert value not in error.reason
    assert value not in str(error)
    assert value not in repr(error)


@given(valid_person_ids())
def test_repr_does_not_leak_the_number(case: tuple[str, PersonIdKind, date | None]) -> None:
    assert case[0] not in repr(parse_person_id(case[0], allow_synthetic=True))


@pytest.mark.parametrize("value", ["972418013", "935478715"])
def test_pilot_organisasjonsnummer_are_valid(value: str) -> None:
    assert parse_organisasjonsnummer(value) == value


@pytest.mark.parametrize("value", ["972418013", "935478715"])
@pytest.mark.parametrize("position", range(9))
@pytest.mark.parametrize("shift", range(1, 10))
def test_organisasjonsnummer_single_digit_change_is_invalid(
    value: str, position: int, shift: int
) -> None:
    changed = value[:position] + str((int(value[position]) + shift) % 10) + value[position + 1 :]

    with pytest.raises(ValueError, match="check digit"):
        parse_organisasjonsnummer(changed)


def test_organisasjonsnummer_whose_check_digit_would_be_10_is_invalid() -> None:
    prefix = "97241803"
    weighted = sum(w * int(d) for w, d in zip((3, 2, 7, 6, 5, 4, 3, 2), prefix, strict=True))
    assert weighted % 11 == 1

    for last in "0123456789":
        with pytest.raises(ValueError, match="check digit"):
            parse_organisasjonsnummer(prefix + last)


@pytest.mark.parametrize(
    "value", [972418013, "97241801", "9724180130", " 972418013", "972 418 013", "٩٧٢٤١٨٠١٣"]
)
def test_organisasjonsnummer_must_be_9_ascii_digits(value: Any) -> None:
    with pytest.raises(ValueError, match="9 ASCII digits"):
        parse_organisasjonsnummer(value)
