"""The two code systems of Diagnoser, their form, and the code ranges a municipality excludes.

Only the *form* of a code is checked; whether a code exists is the source's responsibility (no
code table ships with the platform), and its display text is the source's own.

- **ICPC-2** (primary care; FHIR ``http://hl7.org/fhir/sid/icpc-2``, Volven
  ``urn:oid:2.16.578.1.12.4.1.1.7170``): a chapter letter (A B D F H K L N P R S T U W X Y Z) and a
  two-digit component number, e.g. ``T90``. Upper case, no spaces, no subdivision. Component
  numbers 01–29 are symptoms and complaints and 70–99 diagnoses; 30–69 are the process codes
  (examinations, treatment, test results, administration, referrals), which name something done
  for the person, not a health problem the person has, and are refused, as is ``00``.
- **ICD-10** (FHIR ``http://hl7.org/fhir/sid/icd-10-no``, Volven
  ``urn:oid:2.16.578.1.12.4.1.1.7110``): a category of an upper-case letter and two digits, and an
  optional subdivision of one or two digits, written with a dot after the category or without
  (``I50.0`` or ``I500``). Codes are stored and shared **without the dot** (``I500``), as the
  Norwegian code register (Volven 7110 and the directorate's data files) writes them; only the
  printed book puts a dot after the third character.

A three-character code has the same form in both systems (``T90`` is an ICPC-2 diagnosis and an
ICD-10 category), so a code sent under the wrong system is caught only where the forms differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

CodeSystem = Literal["icpc-2", "icd-10"]


@dataclass(frozen=True, slots=True)
class System:
    name: CodeSystem
    title: str
    fhir: str
    """The FHIR ``Coding.system`` URI."""
    oid: str
    """The Volven code system, as a URN."""


ICPC2: Final = System(
    "icpc-2", "ICPC-2", "http://hl7.org/fhir/sid/icpc-2", "urn:oid:2.16.578.1.12.4.1.1.7170"
)
ICD10: Final = System(
    "icd-10", "ICD-10", "http://hl7.org/fhir/sid/icd-10-no", "urn:oid:2.16.578.1.12.4.1.1.7110"
)
SYSTEMS: Final[Mapping[str, System]] = {ICPC2.name: ICPC2, ICD10.name: ICD10}

ICPC2_CHAPTERS: Final = "ABDFHKLNPRSTUWXYZ"
ICPC2_PROCESS: Final = range(30, 70)

_ICPC2: Final = re.compile(r"([A-Z])([0-9]{2})")
_ICD10: Final = re.compile(r"([A-Z][0-9]{2})(?:\.?([0-9]{1,2}))?")
_ICD10_LOOSE: Final = re.compile(r"[A-Z][0-9]{2}\.?[0-9]{0,2}", re.IGNORECASE)
_ABOVE_EVERY_CODE: Final = "~"
"""Sorts after every letter and digit: ``code + "~"`` bounds every code that starts with it."""


class InvalidCode(ValueError):
    """A code whose form its system refuses; ``str()`` says why, in a client's words."""


def _icpc2_form(code: str) -> str:
    """``code`` if it is a chapter letter and a component number 01–99; else InvalidCode."""
    match = _ICPC2.fullmatch(code)
    if match is None:
        if _ICD10.fullmatch(code):
            raise InvalidCode(
                f"{code!r} is not ICPC-2, which has no subdivision: a chapter letter and two "
                "digits, e.g. T90 (is it ICD-10? then the system is icd-10)"
            )
        if code.upper() != code and _ICPC2.fullmatch(code.upper()):
            raise InvalidCode(f"{code!r}: ICPC-2 codes are written in capitals ({code.upper()})")
        if re.fullmatch(r"-[0-9]{2}", code):
            raise InvalidCode(
                f"{code!r} is an ICPC-2 process code without its chapter, not a diagnosis"
            )
        raise InvalidCode(
            f"{code!r} is not an ICPC-2 code: a chapter letter and two digits, e.g. T90"
        )
    chapter, number = match.groups()
    if chapter not in ICPC2_CHAPTERS:
        raise InvalidCode(
            f"{code!r}: {chapter} is not an ICPC-2 chapter ({' '.join(ICPC2_CHAPTERS)}); "
            "is it ICD-10? then the system is icd-10"
        )
    if number == "00":
        raise InvalidCode(f"{code!r}: ICPC-2 component numbers run from 01 to 99")
    return code


def normalise_icpc2(code: str) -> str:
    """An ICPC-2 symptom or diagnosis code as sent (it has one form); InvalidCode otherwise."""
    _icpc2_form(code)
    if int(code[1:]) in ICPC2_PROCESS:
        raise InvalidCode(
            f"{code!r} is an ICPC-2 process code (30–69: examination, treatment, test result, "
            "administration or referral), not a health problem; send a symptom (01–29) or a "
            "diagnosis (70–99)"
        )
    return code


def normalise_icd10(code: str) -> str:
    """An ICD-10 code without its dot (``I50.0`` → ``I500``); InvalidCode otherwise."""
    match = _ICD10.fullmatch(code)
    if match is None:
        if _ICD10_LOOSE.fullmatch(code) and code.upper() != code:
            raise InvalidCode(f"{code!r}: ICD-10 codes are written in capitals")
        if code.endswith("."):
            raise InvalidCode(f"{code!r}: a dot must be followed by the subdivision (I50.0)")
        raise InvalidCode(
            f"{code!r} is not an ICD-10 code: a letter and two digits, then optionally one or "
            "two digits, with or without a dot after the third character (I50, I50.0, I500)"
        )
    category, subdivision = match.groups()
    return category + (subdivision or "")


def normalise_code(system: str, code: str) -> str:
    """The code as stored and shared; raises InvalidCode (or KeyError for an unknown system)."""
    if system == ICPC2.name:
        return normalise_icpc2(code)
    if system == ICD10.name:
        return normalise_icd10(code)
    raise KeyError(system)


@dataclass(frozen=True, slots=True)
class CodeRange:
    """Every code of one system from ``low`` to ``high``, each bound taken with everything
    under it: ``P`` is the chapter, ``F32`` includes ``F320``–``F329``, ``F00``–``F99`` the
    block. A code overlaps the range if any code it stands for is in it (``F32`` overlaps
    ``F320-F321``)."""

    system: CodeSystem
    low: str
    high: str

    def covers(self, code: str) -> bool:
        return code <= self.high + _ABOVE_EVERY_CODE and self.low <= code + _ABOVE_EVERY_CODE

    def __str__(self) -> str:
        return self.low if self.low == self.high else f"{self.low}-{self.high}"


def _range_bound(system: CodeSystem, text: str) -> str:
    if system == ICPC2.name:
        if len(text) == 1 and text in ICPC2_CHAPTERS:
            return text
        return _icpc2_form(text)
    if len(text) == 1 and "A" <= text <= "Z":
        return text
    return normalise_icd10(text)


def parse_code_range(system: CodeSystem, text: str) -> CodeRange:
    """``P`` (a chapter), ``P76`` or ``F32.1`` (a code and what is under it), or ``F00-F99``;
    the bounds in either order. Raises InvalidCode."""
    low, separator, high = text.partition("-")
    if not low or (separator and not high):
        raise InvalidCode(f"{text!r} is not a code, a chapter, or a range like F00-F99")
    first = _range_bound(system, low)
    last = _range_bound(system, high) if separator else first
    return CodeRange(system, min(first, last), max(first, last))


def parse_exclusions(setting: Mapping[str, Iterable[str]]) -> tuple[CodeRange, ...]:
    """The ranges of ``excluded_codes`` in a tenant's settings (``settings.schema.json``).

    Raises ValueError for an entry the settings schema refuses (a broken tenant file).
    """
    ranges = []
    for system, entries in setting.items():
        if system not in SYSTEMS:
            raise ValueError(f"excluded_codes: unknown code system {system!r}")
        for entry in entries:
            try:
                ranges.append(parse_code_range(SYSTEMS[system].name, entry))
            except InvalidCode as exc:
                raise ValueError(f"excluded_codes/{system}: {exc}") from None
    return tuple(ranges)


def is_excluded(system: str, code: str, ranges: Iterable[CodeRange]) -> bool:
    """Whether a stored code falls in any of ``ranges`` of its system."""
    return any(r.system == system and r.covers(code) for r in ranges)
