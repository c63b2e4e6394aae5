"""Which drug (or drugs) a document is about, as plans write them: "Brand (generic)", "Brand®
(generic)", "BrandTM", "generic (Brand)", "Brand (generic tablets - Maker)", "generic injection
(generic Brand)", "Drug (e.g., Brand)", a biosimilar's suffix (adalimumab-adaz), a page titled by
the brand alone ("Wegovy — Medica"), and a class document that lists preferred and non-preferred
drugs.

A name is recognised by the knowledge tables first, then by the drug-named-entity-recognition
dictionary (brand and generic names to one drug), so no drug name is written here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from priorauth.importer.document import Line
from priorauth.policy.tables import Knowledge, norm

# Trademark signs, and "TM" glued to a brand as copied from a page ("LumakrasTM").
_MARKS = re.compile(r"[\u00ae\u2122\u2120]|\((?:R|TM)\)|(?<=[a-z])TM\b")
_SUFFIX = re.compile(r"-[a-z]{4}\b")  # a biologic's suffix: erenumab-aooe
# The maker after a dash ("- Amgen") or in brackets ("[Eli Lilly]").
_MAKER = re.compile(r"\s+[\u2013\u2014-]\s+.*$|\s*\[[^\]]*\]")
_FORMS = re.compile(
    r"\b(?:tablets?|capsules?|injections?|injectable|subcutaneous|intravenous|oral|pellets?|"
    r"solution|suspension|extended[- ]release|delayed[- ]release|film[- ]coated|pens?|"
    r"auto-?injectors?|prefilled|syringes?|kits?|topical|transdermal|gel|nasal|spray|cream|"
    r"powder|vials?|infusion|for use|pack|single-dose|multi-dose)\b",
    re.I,
)
_PAIR = re.compile(r"([A-Za-z][\w/-]*(?:[ ][A-Za-z][\w/-]*){0,3})\s*\(([^()]{2,90})\)")
# Lines of a page's furniture that are no title ("Skip to content", a site's name).
_FURNITURE = re.compile(
    r"^(?:skip to (?:main )?content|primary navigation|the policy vault.*|asset publisher|"
    r"print.*|hn logo|size: px|start display at page:?|transcription)$",
    re.I,
)
_PREFERRED = re.compile(
    r"^\s*(non-?preferred|preferred)\b(?:\s+drugs?)?\s*[-:\u2013]?\s*(.*)$", re.I
)
_NO_PA_FOR_PREFERRED = re.compile(
    r"preferred (?:drugs?|products?|agents?) (?:will )?(?:do )?not require prior authorization",
    re.I,
)


@dataclass(frozen=True)
class Named:
    brand: str
    generic: str
    role: str = ""  # "preferred" or "nonpreferred" in a class document; "class": a class's name
    also: tuple[str, ...] = ()  # other brands of the same drug the document names

    def said(self) -> str:
        """How a report names it: its brands, its generic, its role."""
        role = f", {self.role}" if self.role else ""
        return f"{'/'.join((self.brand, *self.also))} ({self.generic}{role})"


def clean_name(text: str) -> str:
    """A name as written, without trademark signs, the maker, the dosage form or "e.g."."""
    t = _MARKS.sub("", text)
    t = _MAKER.sub("", t)
    t = re.sub(r"^\s*(?:e\.g\.,?|i\.e\.,?|for example,?|generic|brand)\s+", "", t, flags=re.I)
    t = _FORMS.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip(" ,;:/-")


def _generic_form(name: str) -> str:
    g = _SUFFIX.sub("", name.strip().lower())
    return re.sub(r"\s*,?\s+and\s+|\s*,\s*", "/", g)


@lru_cache(maxsize=1)
def _dictionary() -> Callable[..., Any]:
    # Loaded on first need only (a few seconds): most documents name a drug the tables know.
    from drug_named_entity_recognition import find_drugs

    find: Callable[..., Any] = find_drugs
    return find


def _is_drug(entry: dict[str, Any]) -> bool:
    # The dictionary also holds enzymes and receptors ("subtilisin"): a drug has a DrugBank or
    # MedlinePlus entry, or is a hormone (MeSH D06: somatropin).
    trees = entry.get("mesh_tree") or []
    return bool(
        entry.get("drugbank_id")
        or entry.get("medline_plus_id")
        or any(str(t).startswith("D06") for t in trees)
    )


def canonical(name: str, kb: Knowledge) -> str | None:
    """The drug a name stands for (its generic name), or None when no table knows it. An
    acronym is never taken for a drug (EGFR, CK, GH), a brand in capitals is (TAGRISSO)."""
    cleaned = clean_name(name)
    key = norm(_SUFFIX.sub("", cleaned))
    if not key or len(key) < 3 or (cleaned.isupper() and len(cleaned) <= 5):
        return None
    if key in kb.drug_aliases:
        return kb.drug_aliases[key]
    find = _dictionary()
    for word in dict.fromkeys((key, _SUFFIX.sub("", cleaned), cleaned)):
        found = [f for f in find([word], is_ignore_case=True) if _is_drug(f[0])]
        if found:
            return _generic_form(str(found[0][0]["name"]))
    return None


def _display(name: str) -> str:
    """A brand in capitals as a page shouts it ("TAGRISSO") is written as a name."""
    return name.capitalize() if name.isupper() and len(name) > 3 else name


_NOT_A_NAME = re.compile(
    r"\b(?:is|are|with|or|of|the|for|in|an?|to|see|as|than|if|who|which|alone|must|meet|all|"
    r"one|both|following|including|used|level|at|without|samples?|products?|unless)\b|[,;:%<>=]|"
    r"\d{2}",
    re.I,
)


def _pair(outside: str, inside: str, kb: Knowledge) -> Named | None:
    outside, inside = _MARKS.sub("", outside), _MARKS.sub("", inside)
    words = clean_name(outside).split()
    if not words:
        return None
    hint = re.match(r"\s*(?:generic|e\.g\.,?|i\.e\.,?|for example,?)\s+", inside, re.I)
    brands = [clean_name(p) for p in inside[hint.end() if hint else 0 :].split(",")]
    if len(brands) > 1 and all(brands):
        # "somatropin (Humatrope, Genotropin, Norditropin)": one drug, several brands.
        for n in range(1, min(len(words), 3) + 1):
            a = " ".join(words[-n:])
            ca = canonical(a, kb)
            if ca and all(canonical(b, kb) == ca for b in brands):
                return Named(_display(brands[0]), _generic_form(a))
        return None
    b = brands[0]
    # A parenthesis holding a phrase or an abbreviation ("(NSCLC)", "(GH)") is no drug's other
    # name.
    if not b or len(b.split()) > 4 or _NOT_A_NAME.search(b) or (b.isupper() and len(b) <= 5):
        return None
    if hint:
        # "testosterone enanthate injection (generic Delatestryl)", "Testosterone Injection
        # (e.g., Depo-Testosterone)": the word in parentheses is the brand.
        if b[:1].isupper() and len(b.split()) <= 2:
            return Named(_display(b), _generic_form(" ".join(words)))
        return None
    cb = canonical(b, kb)
    for n in range(1, min(len(words), 4) + 1):
        a = " ".join(words[-n:])
        ca = canonical(a, kb)
        if ca and (cb is None or ca == cb):
            if norm(_SUFFIX.sub("", a)) == ca or (a.islower() and not b.islower()):
                return Named(_display(b), _generic_form(a))  # "generic (Brand)"
            return Named(_display(a), _generic_form(b))
    a = words[-1]
    if cb and a[:1].isupper() and not (a.isupper() and len(a) <= 5):
        return Named(_display(a), _generic_form(b))
    if a[:1].isupper() and not a.isupper() and re.fullmatch(r"[a-z][a-z-]{3,}", b):
        return Named(_display(a), _generic_form(b))  # a drug no table knows yet
    return None


def named_pair(text: str, kb: Knowledge) -> bool:
    """Whether a line names a drug with its other name in parentheses."""
    plain = _MARKS.sub("", text)
    return any(_pair(m.group(1), m.group(2), kb) for m in _PAIR.finditer(plain))


def _heading_lines(lines: list[Line], limit: int = 40) -> list[str]:
    out = []
    for line in lines[:limit]:
        text = _MARKS.sub("", line.text).strip()
        if text and not _FURNITURE.fullmatch(text):
            out.append(text)
    return out


def _joined_pairs(texts: list[str]) -> list[str]:
    """Lines, and each line run together with the next (a brand on one line, "(generic)" on
    the next)."""
    out = []
    for i, t in enumerate(texts):
        out.append(t)
        if i + 1 < len(texts) and texts[i + 1].startswith("("):
            out.append(f"{t} {texts[i + 1]}")
    return out


def _tokens(text: str) -> list[str]:
    # Words glued by a page's layout ("somatropinMedica") are tried apart as well.
    out = []
    for word in re.findall(r"[A-Za-z][\w/-]*", _MARKS.sub("", text)):
        out.append(word)
        pieces = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", word).split()
        if len(pieces) > 1:
            out.extend(pieces)
    return out


# After a title's drug: the end, a separator, a parenthesis, a lower-case word (its form) or an
# acronym ("Wegovy PA Policy"); not a capitalised word going on with another name ("Calcitonin
# Gene-Related Peptide").
_ENDS_NAME = re.compile(r"\s*(?:$|[\u2014\u2013(:,|-]|[a-z]|[A-Z]{2,}\b)")


def _alone(texts: list[str], kb: Knowledge) -> Named | None:
    """A drug named without a partner in parentheses, as a title's first words ("Wegovy —
    Medica", "Subject: Wegovy PA Policy")."""
    for text in texts[:8]:
        plain = _MARKS.sub("", text)
        for m in list(re.finditer(r"[A-Za-z][\w/-]*", plain))[:3]:
            for word in _tokens(m.group(0)):
                if len(word) < 4 or word.isupper():
                    continue
                if word == m.group(0) and not _ENDS_NAME.match(plain, m.end()):
                    continue
                generic = canonical(word, kb)
                if generic:
                    # A generic written as such is kept in the document's words (somatropin).
                    own = word.lower() if word.islower() or word.lower() == generic else generic
                    return Named(_display(word), own)
    return None


def _list_line(text: str) -> bool:
    """A short line of a list of drug names (not a criterion, a heading or a date)."""
    return len(text) <= 100 and not text.endswith(":")


_BULLET = re.compile(r"[-\u2022*\u25aa\u25e6]\s|\(?(?:[a-z]|\d{1,2}|[ivx]{1,4})[.)]\s", re.I)
_DRUGS_LABEL = re.compile(
    r"^(?:restricted )?(?:drugs?|drug class|agents?|products?)(?:\(s\))?\s*(?:[-:\u2013]|$)", re.I
)


def named_drugs(lines: list[Line], kb: Knowledge) -> list[Named]:
    """Every drug the document names in its title lines, in order, once each (by generic name);
    in a class document with preferred and non-preferred lists, each with its role."""
    texts = _heading_lines(lines)
    found: list[Named] = []
    role = ""
    listing = False  # under a "Drugs" or "Preferred" label
    for i, text in enumerate(_joined_pairs(texts)):
        m = _PREFERRED.match(text)
        label = _DRUGS_LABEL.match(text)
        if m:
            role = "nonpreferred" if m.group(1).lower().startswith("non") else "preferred"
            text, listing = m.group(2), True
        elif label:
            text, listing = text[label.end() :], True
        elif listing and not _list_line(text):
            role, listing = "", False
        if not text.strip():
            continue
        # a line that is nothing but names with their other names is a title line anywhere
        names_only = re.fullmatch(r"(?:[\w ./-]+\([^()]+\)[,;\s]*)+", text) is not None
        title = (i < 12 or names_only) and not _BULLET.match(text) and len(text) <= 200
        if not (title or listing):
            continue
        pairs = [n for pm in _PAIR.finditer(text) if (n := _pair(pm.group(1), pm.group(2), kb))]
        found += [Named(n.brand, n.generic, role) for n in pairs]
        if listing and not pairs:
            for part in re.split(r"[,;]|\s+and\s+", text.lstrip("-\u2022 ")):
                name = clean_name(part)
                generic = canonical(name, kb) if name else None
                if generic:
                    found.append(Named(_display(name), generic, role))
    merged: dict[str, Named] = {}
    for n in found:
        key = norm(n.generic)
        if key not in merged:
            merged[key] = n
        elif norm(n.brand) not in {norm(b) for b in (merged[key].brand, *merged[key].also)}:
            kept = merged[key]
            merged[key] = Named(kept.brand, kept.generic, kept.role, (*kept.also, n.brand))
    out = list(merged.values())
    if not out:
        wide = [
            n
            for text in _joined_pairs(texts)
            for pm in _PAIR.finditer(text)
            if (n := _pair(pm.group(1), pm.group(2), kb))
        ]
        out = wide[:1]
    if not out and (alone := _alone(texts, kb)) is not None:
        out.append(alone)
    return out


# A page for a class of drugs that names none of them ("Drug Class: GLP-1 agonists",
# "Calcitonin Gene-Related Peptide (CGRP) Receptor Antagonists for Migraine Prophylaxis").
_CLASS_TITLE = re.compile(
    r"^(?:drug class\s*[:\-\u2013]\s*)?(?P<name>[A-Za-z0-9][\w ()/,-]{2,80}?\b(?:agonists?|"
    r"antagonists?|inhibitors?|agents|analogs?|analogues|blockers?|modulators?|biologics|"
    r"hormones?|replacement products|replacement therapy))\b",
    re.I,
)


def drug_class(lines: list[Line]) -> str | None:
    """The class a page is for, by its title, when it names no drug."""
    for text in _heading_lines(lines)[:6]:
        m = _CLASS_TITLE.match(text)
        if m:
            return re.sub(r"\s+", " ", m.group("name")).strip()
    return None


def chosen_drug(lines: list[Line], kb: Knowledge) -> tuple[Named | None, list[Named]]:
    """The drug the policy is imported for, and every drug the document names. In a class
    document whose preferred drugs need no prior authorization, the criteria are the non-preferred
    drugs': the first of those."""
    every = named_drugs(lines, kb)
    if not every:
        cls = drug_class(lines)
        return (Named(cls, cls.lower(), "class"), []) if cls else (None, [])
    full = " ".join(line.text for line in lines)
    if _NO_PA_FOR_PREFERRED.search(full):
        nonpreferred = [n for n in every if n.role == "nonpreferred"]
        if nonpreferred:
            return nonpreferred[0], every
    return every[0], every
