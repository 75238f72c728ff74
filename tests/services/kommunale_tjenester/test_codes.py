import csv
import io
from importlib import resources

import pytest

from journalloft.services.kommunale_tjenester.codes import (
    SERVICE_CODE_SYSTEM,
    ServiceType,
    normalise_service_code,
    service_type,
)

ACTIVE_NAMES = {
    "1": "Praktisk bistand – daglige gjøremål",
    "2": "Praktisk bistand – opplæring – daglige gjøremål",
    "3": "Praktisk bistand – brukerstyrt personlig assistanse (BPA)",
    "4": "Dagaktivitetstilbud",
    "5": "Matombringing",
    "6": "Trygghetsalarm",
    "7": "Avlastning utenfor institusjon",
    "8": "Avlastning i institusjon",
    "9": "Støttekontakt",
    "11": "Omsorgsstønad",
    "14": "Bruk av tvang, psykisk utviklingshemning – planlagte tiltak",
    "15": "Helsetjenester i hjemmet (hjemmesykepleie)",
    "17": "Dagopphold i institusjon",
    "18": "Tidsbegrenset opphold – utredning/behandling",
    "19": "Tidsbegrenset opphold – habilitering/rehabilitering",
    "20": "Tidsbegrenset opphold – annet",
    "21": "Langtidsopphold i institusjon",
    "22": "Nattopphold i institusjon",
    "23": "Bruk av tvang, psykisk utviklingshemning – nødsituasjoner",
    "24": "Helsehjelp med tvang",
    "25": "Kommunalt døgnopphold for øyeblikkelig hjelp (KAD)",
    "26": "Lokaliseringsteknologi",
    "27": "Elektronisk medisineringsstøtte",
    "28": "Digitalt tilsyn",
    "29": "Bolig som kommunen disponerer til helse- og omsorgsformål",
}
RETIRED_CODES = ["10", "12", "13", "16"]
# the displays of the OKT IG's CodeSystem IplosCs (HL7Norway/FHIR-hackathon-2025-okt-ig,
# input/fsh/terminology/iplos-codesystem.fsh) where they differ from Volven's names
IG_DISPLAYS = {
    "1": "Praktisk bistand - daglige gjøremål",
    "2": "Praktisk bistand - opplæring - daglige gjøremål",
    "3": "Praktisk bistand - brukerstyrt - personlig assistanse",
    "14": "Bruk av tvang psykisk utviklingshemning – planlagte tiltak",
    "15": "Helsetjenester i hjemmet",
    "18": "Tidsbegrenset opphold - utredning/behandling",
    "19": "Tidsbegrenset opphold - habilitering/rehabilitering",
    "20": "Tidsbegrenset opphold - annet",
    "23": "Bruk av tvang psykisk utviklingshemning – nødsituasjoner",
    "25": "Kommunal øyeblikkelig hjelp - døgnopphold",
    "26": "Lokaliseringsteknologi (GPS)",
    "29": "Bolig som kommunen disponerer for helse- og omsorgsformål",
}


def _csv_rows() -> list[dict[str, str]]:
    package = "journalloft.services.kommunale_tjenester"
    text = resources.files(package).joinpath("volven_9151.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_system_is_the_volven_9151_oid() -> None:
    assert SERVICE_CODE_SYSTEM == "urn:oid:2.16.578.1.12.4.1.1.9151"


@pytest.mark.parametrize(("code", "name"), sorted(ACTIVE_NAMES.items()))
def test_every_active_code_resolves_with_its_name(code: str, name: str) -> None:
    assert service_type(code) == ServiceType(
        code=code,
        name=name,
        retired=False,
        display=IG_DISPLAYS.get(code, name),
        level="1",
        parent="0",
    )


@pytest.mark.parametrize(("padded", "plain"), [("015", "15"), ("01", "1"), ("0006", "6")])
def test_zero_padded_codes_from_okt_resolve_like_plain_codes(padded: str, plain: str) -> None:
    found = service_type(padded)
    assert found is not None
    assert found == service_type(plain)
    assert found.code == plain


@pytest.mark.parametrize("code", RETIRED_CODES)
def test_retired_codes_resolve_as_retired(code: str) -> None:
    found = service_type(code)
    assert found is not None
    assert found.code == code
    assert found.retired
    assert found.name


def test_table_covers_codes_1_to_29_and_nothing_else() -> None:
    codes = {row["code"] for row in _csv_rows()}
    assert codes == {str(n) for n in range(1, 30)}
    assert codes == set(ACTIVE_NAMES) | set(RETIRED_CODES)


def test_csv_has_no_duplicate_codes() -> None:
    codes = [row["code"] for row in _csv_rows()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("code", ["30", "99", "030", "100"])
def test_unknown_codes_resolve_to_none(code: str) -> None:
    assert service_type(code) is None


@pytest.mark.parametrize(
    ("value", "expected"), [("015", "15"), ("15", "15"), ("1", "1"), ("01", "1"), ("100", "100")]
)
def test_normalise_strips_leading_zeros_only(value: str, expected: str) -> None:
    assert normalise_service_code(value) == expected


@pytest.mark.parametrize(
    "value", ["", "1a", "-1", "+1", " 15", "15 ", "15\n", "1.5", "0", "000", "١٥", "²"]
)
def test_malformed_codes_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="service code"):
        normalise_service_code(value)
    with pytest.raises(ValueError, match="service code"):
        service_type(value)
