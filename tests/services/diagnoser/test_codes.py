"""The form of ICPC-2 and ICD-10 codes, ICD-10's dot, and the code ranges a municipality
excludes."""

from __future__ import annotations

import pytest

from journalloft.services.diagnoser.codes import (
    ICD10,
    ICPC2,
    ICPC2_CHAPTERS,
    SYSTEMS,
    CodeRange,
    InvalidCode,
    is_excluded,
    normalise_code,
    parse_code_range,
    parse_exclusions,
)


def refused(system: str, code: str) -> str:
    with pytest.raises(InvalidCode) as caught:
        normalise_code(system, code)
    return str(caught.value)


def test_the_systems_name_their_fhir_uri_and_volven_oid() -> None:
    assert SYSTEMS == {"icpc-2": ICPC2, "icd-10": ICD10}
    assert (ICPC2.fhir, ICPC2.oid) == (
        "http://hl7.org/fhir/sid/icpc-2",
        "urn:oid:2.16.578.1.12.4.1.1.7170",
    )
    assert (ICD10.fhir, ICD10.oid) == (
        "http://hl7.org/fhir/sid/icd-10-no",
        "urn:oid:2.16.578.1.12.4.1.1.7110",
    )


# ICPC-2


@pytest.mark.parametrize("chapter", list(ICPC2_CHAPTERS))
def test_every_icpc2_chapter_takes_symptoms_and_diagnoses(chapter: str) -> None:
    for number in ("01", "29", "70", "99"):
        assert normalise_code("icpc-2", f"{chapter}{number}") == f"{chapter}{number}"


@pytest.mark.parametrize("code", ["T90", "K77", "P70", "A01", "Z29", "R96"])
def test_icpc2_codes_are_stored_as_sent(code: str) -> None:
    assert normalise_code("icpc-2", code) == code


@pytest.mark.parametrize("chapter", sorted(set("ABCDEFGHIJKLMNOPQRSTUVWXYZ") - set(ICPC2_CHAPTERS)))
def test_letters_that_are_no_icpc2_chapter_are_refused(chapter: str) -> None:
    message = refused("icpc-2", f"{chapter}90")
    assert f"{chapter} is not an ICPC-2 chapter" in message
    assert "icd-10" in message


@pytest.mark.parametrize("number", ["30", "31", "45", "50", "62", "69"])
def test_icpc2_process_codes_are_not_health_problems(number: str) -> None:
    assert "process code" in refused("icpc-2", f"K{number}")


def test_icpc2_component_00_does_not_exist() -> None:
    assert "01 to 99" in refused("icpc-2", "T00")


@pytest.mark.parametrize("code", ["T9", "T900", "T", "90", "TT90", "T9O", "T 90", " T90", "T90\n"])
def test_icpc2_numbers_are_exactly_two_digits(code: str) -> None:
    assert "ICPC-2" in refused("icpc-2", code)


@pytest.mark.parametrize("code", ["T90.1", "I500", "I50.0", "E119"])
def test_icpc2_has_no_subdivision_and_an_icd10_code_is_named_as_such(code: str) -> None:
    message = refused("icpc-2", code)
    assert "no subdivision" in message
    assert "icd-10" in message


def test_icpc2_is_written_in_capitals() -> None:
    assert "capitals (T90)" in refused("icpc-2", "t90")


def test_an_icpc2_process_code_without_its_chapter_is_refused() -> None:
    assert "process code" in refused("icpc-2", "-30")


# ICD-10


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("I50", "I50"),
        ("I50.0", "I500"),
        ("I500", "I500"),
        ("E11.9", "E119"),
        ("E119", "E119"),
        ("F10.20", "F1020"),
        ("F1020", "F1020"),
        ("U07.1", "U071"),
        ("A00", "A00"),
        ("Z99.9", "Z999"),
    ],
)
def test_icd10_is_stored_without_its_dot(sent: str, stored: str) -> None:
    assert normalise_code("icd-10", sent) == stored


@pytest.mark.parametrize(
    "code",
    [
        "I5",  # the category is a letter and two digits
        "I5.00",  # the dot comes after the third character only
        "I.500",
        "I50-0",
        "I50000",  # at most two digits of subdivision
        "I50.000",
        "150",  # a digit for the letter
        "I5O",  # a letter O for a zero
        "I50.A",
        "I50 0",
        " I500",
        "I500\n",
        "E10.4+",  # dagger and asterisk marks are not part of the code
        "G63.2*",
        "",
    ],
)
def test_malformed_icd10_codes_are_refused(code: str) -> None:
    assert "is not an ICD-10 code" in refused("icd-10", code)


def test_icd10_with_a_dot_and_nothing_after_it_is_refused() -> None:
    assert "a dot must be followed" in refused("icd-10", "I50.")


@pytest.mark.parametrize("code", ["i500", "i50.0", "e11"])
def test_icd10_is_written_in_capitals(code: str) -> None:
    assert "capitals" in refused("icd-10", code)


def test_an_icpc2_code_sent_as_icd10_cannot_be_told_apart() -> None:
    """T90 is an ICPC-2 diagnosis and an ICD-10 category: the form alone cannot tell."""
    assert normalise_code("icd-10", "T90") == "T90"
    assert "not an ICD-10 code" in refused("icd-10", "-30")


def test_an_unknown_system_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        normalise_code("icd-11", "BA00")


# Excluded code ranges


@pytest.mark.parametrize(
    ("entry", "bounds"),
    [
        ("P", ("P", "P")),
        ("P76", ("P76", "P76")),
        ("P70-P99", ("P70", "P99")),
        ("P99-P70", ("P70", "P99")),
        ("P-R", ("P", "R")),
    ],
)
def test_icpc2_exclusions_parse(entry: str, bounds: tuple[str, str]) -> None:
    parsed = parse_code_range("icpc-2", entry)
    assert (parsed.low, parsed.high) == bounds


@pytest.mark.parametrize(
    ("entry", "bounds"),
    [
        ("F", ("F", "F")),
        ("F00-F99", ("F00", "F99")),
        ("F32.1", ("F321", "F321")),
        ("F32.0-F32.9", ("F320", "F329")),
        ("B20-B24", ("B20", "B24")),
    ],
)
def test_icd10_exclusions_parse_without_dots(entry: str, bounds: tuple[str, str]) -> None:
    parsed = parse_code_range("icd-10", entry)
    assert (parsed.low, parsed.high) == bounds


@pytest.mark.parametrize(
    ("system", "entry"),
    [("icpc-2", "C"), ("icpc-2", "P00"), ("icpc-2", "P70-"), ("icd-10", "-F99"), ("icd-10", "F5")],
)
def test_malformed_exclusions_are_refused(system: str, entry: str) -> None:
    with pytest.raises(InvalidCode):
        parse_code_range(system, entry)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "code", "covered"),
    [
        ("P", "P70", True),
        ("P", "P15", True),
        ("P", "R70", False),
        ("P15-P19", "P15", True),
        ("P15-P19", "P19", True),
        ("P15-P19", "P20", False),
        ("P15-P19", "P14", False),
        ("P76", "P76", True),
        ("P76", "P77", False),
    ],
)
def test_icpc2_ranges_cover_their_codes(entry: str, code: str, covered: bool) -> None:
    assert parse_code_range("icpc-2", entry).covers(code) is covered


@pytest.mark.parametrize(
    ("entry", "code", "covered"),
    [
        ("F00-F99", "F00", True),
        ("F00-F99", "F03", True),
        ("F00-F99", "F999", True),
        ("F00-F99", "G30", False),
        ("F00-F99", "E119", False),
        ("F10-F19", "F102", True),
        ("F10-F19", "F1020", True),
        ("F10-F19", "F20", False),
        ("F10-F19", "F09", False),
        ("F", "F03", True),
        ("F", "G301", False),
        ("F32", "F321", True),
        ("F321", "F32", True),  # the category may be any of its subdivisions
        ("F321", "F322", False),
        ("F32.0-F32.1", "F32", True),
        ("F32.0-F32.1", "F33", False),
    ],
)
def test_icd10_ranges_cover_their_codes_and_what_may_be_in_them(
    entry: str, code: str, covered: bool
) -> None:
    assert parse_code_range("icd-10", entry).covers(code) is covered


def test_exclusions_apply_to_their_own_system_only() -> None:
    ranges = parse_exclusions({"icpc-2": ["P"], "icd-10": ["F10-F19"]})
    assert ranges == (CodeRange("icpc-2", "P", "P"), CodeRange("icd-10", "F10", "F19"))
    assert is_excluded("icpc-2", "P70", ranges)
    assert not is_excluded("icd-10", "P70", ranges)  # ICD-10 P70 is a perinatal condition
    assert is_excluded("icd-10", "F102", ranges)
    assert not is_excluded("icpc-2", "F10", ranges)  # nor is F an ICPC-2 chapter of psychiatry
    assert not is_excluded("icd-10", "F03", ranges)
    assert [str(r) for r in ranges] == ["P", "F10-F19"]


@pytest.mark.parametrize("setting", [{"icd-11": ["BA00"]}, {"icpc-2": ["C"]}, {"icd-10": ["F00-"]}])
def test_a_broken_exclusion_setting_is_a_value_error(setting: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="excluded_codes"):
        parse_exclusions(setting)
