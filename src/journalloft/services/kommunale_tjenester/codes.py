"""Volven 9151 "Tjenestetype i helse- og omsorgstjenesten", read from ``volven_9151.csv``.

The table lives in that one data file so that a wrong name is corrected in one place. Beside
Volven's name it holds each code's ``display`` as the OKT IG's CodeSystem ``IplosCs`` has it
(HL7 Norway, FHIR hackathon 2025; what FHIR codings and OKT's ``iplosCodeDescription`` carry)
and its place in the IPLOS hierarchy (``level``, ``parent``: NHN's ``iplosCodeLevel`` and
``iplosParentCode``; 9151 is flat, so every code is level 1 under "0").
"""

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

SERVICE_CODE_SYSTEM: Final = "urn:oid:2.16.578.1.12.4.1.1.9151"

_TABLE_FILE: Final = "volven_9151.csv"
_COLUMNS: Final = ["code", "name", "retired", "display", "level", "parent"]
_RETIRED_VALUES: Final = {"true": True, "false": False}
_DIGITS: Final = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ServiceType:
    code: str
    name: str
    retired: bool
    display: str
    level: str
    parent: str


def normalise_service_code(value: str) -> str:
    """Return the 9151 code without zero padding ("015" -> "15").

    Only ASCII digits are accepted, with no sign or whitespace; a code that is all zeros is
    invalid. Raises ValueError otherwise.
    """
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"service code must be digits only, got {value!r}")
    code = value.lstrip("0")
    if not code:
        raise ValueError(f"service code must not be zero, got {value!r}")
    return code


def service_type(code: str) -> ServiceType | None:
    """Look up a 9151 code, padded or not; None if the code is not in the table.

    Retired codes are found, with ``retired=True``. Raises ValueError for a malformed code.
    """
    return _service_types().get(normalise_service_code(code))


@cache
def _service_types() -> Mapping[str, ServiceType]:
    package = __name__.rpartition(".")[0]
    text = resources.files(package).joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != _COLUMNS:
        raise ValueError(f"{_TABLE_FILE}: header must be {_COLUMNS}, got {header}")
    table: dict[str, ServiceType] = {}
    for row in reader:
        where = f"{_TABLE_FILE} line {reader.line_num}"
        if len(row) != len(_COLUMNS):
            raise ValueError(f"{where}: expected {len(_COLUMNS)} fields, got {len(row)}")
        code, name, retired, display, level, parent = row
        if code != normalise_service_code(code):
            raise ValueError(f"{where}: code {code!r} is zero-padded")
        if code in table:
            raise ValueError(f"{where}: duplicate code {code!r}")
        if not name or name != name.strip():
            raise ValueError(f"{where}: name {name!r} is empty or padded with whitespace")
        if not display or display != display.strip():
            raise ValueError(f"{where}: display {display!r} is empty or padded with whitespace")
        if not _DIGITS.fullmatch(level) or not _DIGITS.fullmatch(parent):
            raise ValueError(f"{where}: level and parent must be digits")
        if retired not in _RETIRED_VALUES:
            raise ValueError(f"{where}: retired must be true or false, got {retired!r}")
        table[code] = ServiceType(
            code=code,
            name=name,
            retired=_RETIRED_VALUES[retired],
            display=display,
            level=level,
            parent=parent,
        )
    return MappingProxyType(table)
