"""The curated tables read what prescribers write."""

from __future__ import annotations

import pytest

from priorauth.policy.tables import load_knowledge, normalize_alteration

KB = load_knowledge()


@pytest.mark.parametrize(
    ("written", "generics"),
    [
        ("FOLFOX", ("fluorouracil", "leucovorin", "oxaliplatin")),
        ("folfoxiri", ("fluorouracil", "leucovorin", "oxaliplatin", "irinotecan")),
        ("XELOX", ("capecitabine", "oxaliplatin")),
        ("CAPIRI", ("capecitabine", "irinotecan")),
        ("Vectibix", ("panitumumab",)),
        ("Vectibix®", ("panitumumab",)),
        ("5-FU", ("fluorouracil",)),
        ("FOLFOX + bevacizumab", ("fluorouracil", "leucovorin", "oxaliplatin", "bevacizumab")),
        ("carboplatin and pemetrexed", ("carboplatin", "pemetrexed")),
        ("unobtainium", None),
        ("FOLFOX + unobtainium", None),
    ],
)
def test_drugs_regimens_and_brands_resolve(written: str, generics: tuple[str, ...] | None) -> None:
    assert KB.resolve_drugs(written) == generics


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("G12C", "G12C"),
        ("p.G12C", "G12C"),
        ("g12c", "G12C"),
        ("p.Gly12Cys", "G12C"),
        ("KRAS G12C", "G12C"),
        ("G12C (c.34G>T)", "G12C"),
        ("L858R", "L858R"),
    ],
)
def test_alteration_spellings(written: str, canonical: str) -> None:
    assert normalize_alteration(written) == canonical


def test_dna_notation_is_read_through_the_alias_table() -> None:
    assert KB.alteration("KRAS", "c.34G>T") == "G12C"
    assert KB.alteration("KRAS", "something odd") is None


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("Adenocarcinoma", "adenocarcinoma"),
        ("squamous cell carcinoma", "squamous_cell"),
        ("Non-small cell", "non_small_cell"),
        ("SCLC", "small_cell"),
    ],
)
def test_histology_spellings(written: str, key: str) -> None:
    assert KB.histology(written) == key


def test_small_cell_is_not_nsclc() -> None:
    histologies = KB.diseases["nsclc"].histologies
    assert histologies is not None
    assert "small_cell" not in histologies
    assert {"adenocarcinoma", "squamous_cell", "large_cell", "non_small_cell"} <= histologies


def test_code_families_and_spread_codes() -> None:
    assert KB.diseases["colorectal"].families == {"C18", "C19", "C20"}
    assert KB.extent_codes == {"C77": "locally_advanced", "C78": "metastatic", "C79": "metastatic"}


def test_companion_tests_per_disease() -> None:
    tests = KB.companion_tests[("KRAS", "G12C")]
    assert tests["therascreen kras rgq pcr kit"] == {"nsclc", "colorectal"}
    assert tests["guardant360 cdx"] == {"nsclc"}
