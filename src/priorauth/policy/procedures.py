"""Procedures and supportive care: known entries of a therapy list that are never systemic
anticancer therapy (knowledge/procedures.yaml, knowledge/supportive_care.yaml).

Listed names join the drug table as non-systemic entries (merged with any entry drugs.yaml
already has). Procedures are also read from their words: a name not listed is surgery when a
word of it ends in -ectomy or names a resection, radiation when it says radiation or SBRT, and
so on, provided no word of it is a drug, a regimen or a chemotherapy, so that a systemic part is
never taken for a procedure.

The knowledge tables (tables.py) import this module and never the other way round: what these
functions need of the tables is described by the protocols below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from priorauth.errors import PolicyError

_WORDS = re.compile(r"[\s\-/(),.]+")


@dataclass(frozen=True)
class NotSystemic:
    words: dict[str, str]  # a word that names a procedure -> its generic
    suffixes: tuple[tuple[str, str], ...]  # (suffix, generic)
    chemoradiation: frozenset[str]  # its spellings: the radiation part beside a named drug
    procedures: frozenset[str]  # the procedures' generics
    radiation: str  # the generic radiation stands for


class DrugEntry(Protocol):
    """What these functions read of a drug table's entry (tables.Drug)."""

    @property
    def classes(self) -> frozenset[str]: ...

    @property
    def systemic_anticancer(self) -> bool: ...


class Tables(Protocol):
    """What reading a procedure's name needs of the knowledge tables (tables.Knowledge)."""

    drug_aliases: dict[str, str]
    regimens: dict[str, tuple[str, ...]]
    not_systemic: NotSystemic | None


D = TypeVar("D", bound=DrugEntry)
# (generic, classes) -> a drug table's entry for a drug that is never systemic anticancer therapy
MakeEntry = Callable[[str, frozenset[str]], D]


def load_not_systemic(
    drugs: dict[str, D],
    aliases: dict[str, str],
    read: Callable[[str], dict[str, Any]],
    norm: Callable[[str], str],
    make: MakeEntry[D],
) -> NotSystemic:
    """Add both tables' entries to ``drugs`` and ``aliases``; the procedures' word patterns."""
    px = read("procedures.yaml")
    sx = read("supportive_care.yaml")
    for file, data, section in (
        ("procedures.yaml", px, "procedures"),
        ("supportive_care.yaml", sx, "supportive_care"),
    ):
        for generic, entry in data[section].items():
            _add(drugs, aliases, generic, entry, f"knowledge/{file}", section, norm, make)
    words: dict[str, str] = {}
    suffixes: list[tuple[str, str]] = []
    for generic, pattern in px["patterns"].items():
        if generic not in px["procedures"]:
            raise PolicyError("knowledge/procedures.yaml", f"patterns.{generic}", "not a procedure")
        for word in pattern.get("words", []):
            words[norm(word)] = generic
        suffixes += [(norm(x), generic) for x in pattern.get("suffixes", [])]
    return NotSystemic(
        words=words,
        suffixes=tuple(suffixes),
        chemoradiation=frozenset(norm(w) for w in px.get("chemoradiation", [])),
        procedures=frozenset(px["procedures"]),
        radiation=words["radiation"],
    )


def _add(
    drugs: dict[str, D],
    aliases: dict[str, str],
    generic: str,
    entry: dict[str, Any],
    file: str,
    section: str,
    norm: Callable[[str], str],
    make: MakeEntry[D],
) -> None:
    where = f"{section}.{generic}"
    if entry.get("systemic_anticancer", False):
        raise PolicyError(file, where, "is never systemic anticancer therapy")
    classes = frozenset(entry.get("classes", []))
    known = drugs.get(generic)
    if known is not None:
        if known.systemic_anticancer:
            raise PolicyError(file, where, "drugs.yaml lists it as systemic anticancer therapy")
        classes |= known.classes
    drugs[generic] = make(generic, classes)
    for alias in [generic, *entry.get("names", [])]:
        owner = aliases.setdefault(norm(alias), generic)
        if owner != generic and drugs[owner].systemic_anticancer:
            raise PolicyError(file, where, f"{alias!r} already names {owner!r}")


def procedure_named(kb: Tables, key: str) -> tuple[str, ...] | None:
    """The procedure a normalized name not in the tables stands for ("robotic right
    hemicolectomy", "VATS lobectomy"): a listed procedure name inside it, or a procedure word or
    suffix; None when a word of it is a drug, a regimen, supportive care or a chemotherapy."""
    ns = kb.not_systemic
    if ns is None:
        return None
    found: str | None = None
    for w in _WORDS.split(key):
        if not w:
            continue
        generic = kb.drug_aliases.get(w)
        if w.startswith("chemo") or w in kb.regimens:
            return None
        if generic is not None and generic not in ns.procedures:
            return None  # a drug, or supportive care, inside a longer name
        if found is None:
            found = generic or ns.words.get(w)
        if found is None:
            for suffix, owner in ns.suffixes:
                if w.endswith(suffix):
                    found = owner
                    break
    if found is None:
        tokens = key.split(" ")
        for i in range(len(tokens)):
            for j in range(len(tokens), i, -1):
                generic = kb.drug_aliases.get(" ".join(tokens[i:j]))
                if generic in ns.procedures:
                    return (generic,)
    return (found,) if found is not None else None


def with_radiation(kb: Tables, parts: list[str]) -> list[str] | None:
    """``parts`` of a combination without their chemoradiation words, or None when there are
    none: "chemoradiation with cisplatin" is cisplatin and radiation."""
    ns = kb.not_systemic
    if ns is None or not any(p in ns.chemoradiation for p in parts):
        return None
    return [p for p in parts if p not in ns.chemoradiation]
