"""Our drug tables against a maintained drug dictionary (drug-named-entity-recognition, built
from DrugBank, MeSH, Wikipedia and the NHS): every brand or other name we list that the
dictionary knows as a whole must name the same drug there as in our tables. The dictionary is
a check, not a source at run time: it takes about 360 MB and a second and a half to load, which
no engine worker should pay for a name it does not know."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

dictionary = pytest.importorskip("drug_named_entity_recognition")
FILES = ("drugs.yaml", "targeted_oncology.yaml", "immunology.yaml", "areas.yaml")


# Names where the dictionary and we agree in other words.
SAME = {
    "teysuno": "tegafur with gimeracil and oteracil: the dictionary names another of its parts",
    "onivyde": "liposomal irinotecan, which the dictionary calls irinotecan lipid complex",
    "calcipotriol": "the British name of calcipotriene",
    "synthroid": "levothyroxine, which the dictionary calls thyroxine",
    "unithroid": "levothyroxine, which the dictionary calls thyroxine",
}


def _words(text: str) -> set[str]:
    """A drug's words, without a parenthesis ("Ofatumumab (Multiple Sclerosis)") or the
    separators of a combination ("Fluticasone, Umeclidinium, and Vilanterol")."""
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    return set(re.split(r"[\s/,\-]+", text)) - {"", "and"}


def _same_drug(ours: str, found: dict[str, object]) -> bool:
    """Ours may be more specific (testosterone cypionate is testosterone) or a combination
    written with other separators (budesonide-formoterol is Budesonide/formoterol)."""
    theirs = str(found["name"])
    synonyms = {str(s).lower() for s in found.get("synonyms", []) or []}  # type: ignore[attr-defined]
    return (
        _words(theirs) <= _words(ours) or _words(ours) <= _words(theirs) or ours.lower() in synonyms
    )


def test_every_name_the_dictionary_knows_is_the_same_drug_there() -> None:
    checked = 0
    wrong = []
    for name in FILES:
        path = resources.files("priorauth.policy") / "knowledge" / name
        drugs = yaml.safe_load(path.read_text(encoding="utf-8"))["drugs"]
        for generic, entry in drugs.items():
            for written in entry.get("names", []):
                tokens = written.split()
                found = dictionary.find_drugs(tokens, is_ignore_case=True)
                whole = [
                    f[0] for f in found if f[1] == 0 and f[2] == len(tokens) and "name" in f[0]
                ]  # the end is exclusive
                if not whole:
                    continue
                checked += 1
                if not _same_drug(generic, whole[0]) and written not in SAME:
                    wrong.append(f"{name}: {written} is {generic} here, {whole[0]['name']} there")
    assert wrong == [], "\n".join(wrong)
    assert checked > 200  # the check reads most of our names, not a handful
