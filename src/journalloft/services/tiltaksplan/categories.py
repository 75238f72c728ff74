"""The categories of a measure (tiltak): a short list the legevakt reads at a glance.

No Norwegian code system for municipal care measures was found (no Volven table; Gerica's
catalogue is local; ICNP/SNOMED CT are recommended for nursing practice but give no such
grouping), so the categories are the platform's own, under :data:`CATEGORY_SYSTEM`; see
docs/services.md for the sources.
"""

from types import MappingProxyType
from typing import Final, Literal

CATEGORY_SYSTEM: Final = "https://schemas.journalloft.no/fhir/CodeSystem/tiltaksplan-category"

Category = Literal[
    "medication",
    "personal-care",
    "nutrition",
    "elimination",
    "supervision",
    "wound-care",
    "mobilisation",
    "observation",
    "practical-help",
    "social",
    "other",
]

CATEGORIES: Final = MappingProxyType(
    {
        "medication": "Legemiddelhåndtering",
        "personal-care": "Personlig hygiene og stell",
        "nutrition": "Ernæring og væske",
        "elimination": "Eliminasjon (toalett, kateter, stomi)",
        "supervision": "Tilsyn",
        "wound-care": "Sårstell",
        "mobilisation": "Mobilisering og forflytning",
        "observation": "Observasjon og målinger",
        "practical-help": "Praktisk bistand",
        "social": "Aktivitet og sosial kontakt",
        "other": "Annet",
    }
)
"""Each category's code and its Norwegian display (the record schema's ``category`` enum)."""
