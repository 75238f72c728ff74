"""The instruments of Kartlegginger: each one's items, score ranges, total and band rule, in one
table the service, the schemas' tests, the FHIR part and the demo read.

The platform computes a total or a band only where the instrument's published rule is
deterministic (docs/services.md, "Kartlegginger"; the domain brief's table 3.9): the MST sum and
its cut-off of 2, the MNA-SF sum and its three bands, the Braden sum and its bands. It never
computes an IPLOS total (Helsedirektoratet publishes none), a fall-risk level (it is a clinical
judgement, recorded as assessed), an MMSE band (the Norwegian norms depend on age and education)
or a MOBID-2 band. Item *identifiers* are stored, never the wording of licensed instruments
(MMSE-NR3: PAR; MNA-SF: Nestlé).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class Instrument:
    """One instrument's rules.

    ``items``: each item's identifier and the scores it may take, in the instrument's order.
    ``either``: groups of items of which exactly one is scored (MNA-SF's F1 or F2).
    ``partial_items``: an assessment may score any non-empty subset (IPLOS: each variable is
    assessed for itself); otherwise items, when sent, are the whole set.
    ``total``: ``"sum"`` (the items' sum, checked), ``"recorded"`` (the source's number, in
    ``total_range``, not derived from the items: MOBID-2's overall intensity) or None (no total).
    ``band``: the rule from the total to the band, or None; ``recorded_bands``: the levels a
    source records itself when there is no rule (fall risk), required then.
    """

    code: str
    title: str
    version: str
    items: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    either: tuple[tuple[str, ...], ...] = ()
    partial_items: bool = False
    items_required: bool = False
    total: str | None = None
    total_range: tuple[int, int] | None = None
    band: Callable[[int], str] | None = None
    bands: tuple[str, ...] = ()
    recorded_bands: tuple[str, ...] = ()
    higher_is_worse: bool = True

    def item_ids(self) -> tuple[str, ...]:
        return tuple(self.items)


def _scores(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1))


def mst_band(total: int) -> str:
    """MST (Helsedirektoratet 2022): 2 or more is at risk of undernutrition."""
    return "at-risk" if total >= 2 else "not-at-risk"


def mna_sf_band(total: int) -> str:
    """MNA-SF screening score: 12–14 normal, 8–11 at risk, 0–7 malnourished."""
    if total >= 12:
        return "normal"
    return "at-risk" if total >= 8 else "malnourished"


def braden_band(total: int) -> str:
    """Braden (Bergstrom and Braden's banding as the US VA's note template prints it):
    9 or lower very high, 10–12 high, 13–14 moderate, 15–18 mild risk, 19–23 no risk."""
    if total <= 9:
        return "very-high"
    if total <= 12:
        return "high"
    if total <= 14:
        return "moderate"
    return "mild" if total <= 18 else "no-risk"


IPLOS_VARIABLES: Final = (
    "sosial-deltakelse",
    "beslutninger-i-dagliglivet",
    "ivareta-egen-helse",
    "styre-atferd",
    "hukommelse",
    "kommunikasjon",
    "syn",
    "horsel",
    "skaffe-seg-varer-og-tjenester",
    "alminnelig-husarbeid",
    "lage-mat",
    "spise",
    "personlig-hygiene",
    "av-og-pakledning",
    "toalett",
    "bevege-seg-innendors",
    "bevege-seg-utendors",
)
"""The 17 IPLOS function variables commonly listed (Helsedirektoratet's veileder names 20 today;
the other three and the KPR codes are unconfirmed: docs/services.md)."""
IPLOS_SCORES: Final = (1, 2, 3, 4, 5, 9)

MMSE_ITEMS: Final = {
    **{f"mmse-{n}": (0, 1) for n in range(1, 11)},  # orientation: time 1–5, place 6–10
    "mmse-11": _scores(0, 3),  # immediate recall
    "mmse-12": _scores(0, 5),  # attention / arithmetic
    "mmse-13": _scores(0, 3),  # delayed recall
    "mmse-14": (0, 1),  # naming
    "mmse-15": (0, 1),  # naming
    "mmse-16": (0, 1),  # repetition
    "mmse-17": _scores(0, 3),  # three-stage command
    "mmse-18": (0, 1),  # reading
    "mmse-19": (0, 1),  # writing
    "mmse-20": (0, 1),  # copying
}

MOBID2_ITEMS: Final = {
    name: _scores(0, 10)
    for name in (
        "mobid2-hands",
        "mobid2-arms",
        "mobid2-legs",
        "mobid2-turn",
        "mobid2-sit",
        "mobid2-head-mouth-neck",
        "mobid2-heart-lungs-chest",
        "mobid2-abdomen",
        "mobid2-pelvis-genitals",
        "mobid2-skin",
    )
}

INSTRUMENTS: Final = {
    instrument.code: instrument
    for instrument in (
        Instrument(
            code="iplos",
            title="IPLOS funksjonsvurdering",
            version="Helsedirektoratet (KPR)",
            items={name: IPLOS_SCORES for name in IPLOS_VARIABLES},
            partial_items=True,
            items_required=True,
        ),
        Instrument(
            code="mmse-nr3",
            title="MMSE-NR3",
            version="NR3",
            items=MMSE_ITEMS,
            total="sum",
            total_range=(0, 30),
            higher_is_worse=False,
        ),
        Instrument(
            code="mst",
            title="MST (ernæring)",
            version="Helsedirektoratet 2022",
            items={"mst-weight-loss": _scores(0, 4), "mst-appetite": (0, 1)},
            total="sum",
            total_range=(0, 5),
            band=mst_band,
            bands=("not-at-risk", "at-risk"),
        ),
        Instrument(
            code="mna-sf",
            title="MNA-SF",
            version="MNA-SF",
            items={
                "mna-a": _scores(0, 2),
                "mna-b": _scores(0, 3),
                "mna-c": _scores(0, 2),
                "mna-d": (0, 2),
                "mna-e": _scores(0, 2),
                "mna-f1": _scores(0, 3),
                "mna-f2": (0, 3),
            },
            either=(("mna-f1", "mna-f2"),),
            total="sum",
            total_range=(0, 14),
            band=mna_sf_band,
            bands=("normal", "at-risk", "malnourished"),
            higher_is_worse=False,
        ),
        Instrument(
            code="fall-risk",
            title="Fallrisiko",
            version="Helsedirektoratet 2024",
            recorded_bands=("low", "medium", "high"),
        ),
        Instrument(
            code="braden",
            title="Braden",
            version="Braden",
            items={
                "braden-sensory": _scores(1, 4),
                "braden-moisture": _scores(1, 4),
                "braden-activity": _scores(1, 4),
                "braden-mobility": _scores(1, 4),
                "braden-nutrition": _scores(1, 4),
                "braden-friction-shear": _scores(1, 3),
            },
            total="sum",
            total_range=(6, 23),
            band=braden_band,
            bands=("very-high", "high", "moderate", "mild", "no-risk"),
            higher_is_worse=False,
        ),
        Instrument(
            code="mobid-2",
            title="MOBID-2",
            version="MOBID-2",
            items=MOBID2_ITEMS,
            total="recorded",
            total_range=(0, 10),
        ),
    )
}
"""Every instrument, in the order the legevakt reads them: function, cognition, then the risk
flags (nutrition, falls, pressure ulcers, pain)."""
ORDER: Final = {code: i for i, code in enumerate(INSTRUMENTS)}
