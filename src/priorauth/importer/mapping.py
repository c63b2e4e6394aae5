"""One criterion's wording to a typed condition of the vocabulary, when the importer is sure;
otherwise nothing, and the criterion becomes a yes/no question carrying the exact wording.

Each reader recognises one sentence shape and checks that nothing in the wording is left
unexplained: a sentence that says more than the condition can hold stays a question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from priorauth.policy.tables import Knowledge, norm


@dataclass
class Context:
    kb: Knowledge
    own_names: frozenset[str]  # the policy's drug, brand and generic, normalized
    disease: str | None = None  # the disease of the indication at hand (or the policy's)


@dataclass
class Mapped:
    condition: dict[str, Any] | None
    why: str


_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}


def _clean(text: str) -> str:
    t = re.sub(r"\s+", " ", text).strip().rstrip(".;")
    return t


def _examples_removed(text: str) -> str:
    return re.sub(r"\s*\((?:e\.g\.|eg|such as|for example)[^)]*\)", "", text, flags=re.I).strip()


def map_criterion(text: str, ctx: Context) -> Mapped:
    t = _clean(text)
    m = re.fullmatch(r"for adjuvant (?:therapy|treatment)\s*:\s*(.+)", t, re.I)
    if m:
        inner = map_criterion(m.group(1), ctx)
        if inner.condition and inner.condition["type"] == "prior_therapy":
            return Mapped(
                {**inner.condition, "only_in_setting": "adjuvant"},
                f"in the adjuvant setting only: {inner.why}",
            )
        return Mapped(None, "a condition of the adjuvant setting the vocabulary cannot type")
    for reader in _READERS:
        got = reader(t, ctx)
        if got is not None:
            return got
    return Mapped(None, "no typed condition reads this wording with certainty")


# --- readers -----------------------------------------------------------------------------


def _age(t: str, ctx: Context) -> Mapped | None:
    m = re.fullmatch(
        r"(?:age\s+)?(?:patient is\s+)?(\d+)\s+years(?: of age)?(?: or older| and older)", t, re.I
    )
    if m:
        return Mapped({"type": "age", "min_years": int(m.group(1))}, "an age of at least N years")
    return None


def _attestation(t: str, ctx: Context) -> Mapped | None:
    if not re.match(r"^prescriber (?:agrees|attests|will|must|has agreed)\b", t, re.I):
        return None
    topics = []
    low = t.lower()
    rest = re.sub(r"^prescriber (?:agrees|attests|will|must|has agreed)( to)? monitor\b", "", low)
    for topic, words in ctx.kb.attestation_topics.items():
        for w in sorted(words, key=len, reverse=True):
            pattern = rf"\b{re.escape(w.lower())}\b"
            if re.search(pattern, low):
                if topic not in topics:
                    topics.append(topic)
                rest = re.sub(pattern, " ", rest)
    # Only when every thing to monitor is a known topic does the key stand for the topics;
    # otherwise the key names the whole sentence, so nothing it asks for is dropped.
    filler = r"\b(?:tests?|levels?|and|the|values?|panel|total|serum)\b|\([^)]*\)|[,.;]"
    rest = re.sub(filler, " ", rest)
    if topics and "monitor" in low and not rest.strip():
        key = "_and_".join(topics) + "_monitoring"
    else:
        body = re.sub(
            r"^prescriber (?:agrees|attests|will|must|has agreed)( to| that)?\s*", "", low
        )
        key = re.sub(r"[^a-z0-9]+", "_", body).strip("_")[:48] or "prescriber_attestation"
    return Mapped({"type": "attestation", "key": key}, f"a prescriber attestation ({key})")


def _disease_status(t: str, ctx: Context) -> Mapped | None:
    m = re.fullmatch(r"no disease progression(?: or (unacceptable toxicity))?", t, re.I)
    if m:
        return Mapped(
            {
                "type": "disease_status",
                "no_progression": True,
                "no_unacceptable_toxicity": bool(m.group(1)),
            },
            "no disease progression" + (" or unacceptable toxicity" if m.group(1) else ""),
        )
    return None


_GENE_TAIL = re.compile(
    r"^(?:(?:presence of|tumor has|tumor is|patient has|documented|positive for)\s+(?:an?\s+)?)?"
    r"(?P<gene>[A-Z0-9][A-Za-z0-9-]*)\s+(?P<alts>.*?)\s*(?:mutation-positive|mutations?|positive)"
    r"(?P<rest>.*)$",
    re.I,
)


_GENE_STATUS = re.compile(
    r"^(?:(?:presence of|tumor is|tumor has|tumors are|patient has|disease is|documented)"
    r"\s+(?:an?\s+)?)?"
    r"(?P<gene>[A-Z0-9][A-Za-z0-9/-]*?)[- ](?:positive|rearrangement|rearranged|fusion|"
    r"fusion-positive|gene fusion|amplification|amplified|overexpression)"
    r"(?:\s+(?:disease|tumors?|mutation))?(?P<rest>.*)$",
    re.I,
)


def _gene_status(t: str, ctx: Context) -> Mapped | None:
    """A gene-level result: "ALK-positive", "ROS1 rearrangement", "HER2-positive"."""
    m = _GENE_STATUS.match(t)
    if not m or re.search(r"\bNOT\b", t):
        return None
    gene = ctx.kb.gene_aliases.get(norm(m.group("gene")))
    if gene is None:
        return None
    rest = m.group("rest").strip().lower()
    fda = False
    if rest:
        if not re.fullmatch(r"as (?:determined|detected|confirmed) by an fda-approved test", rest):
            return None
        fda = True
    cond: dict[str, Any] = {
        "type": "biomarker",
        "gene": gene,
        "alterations": [],
        "result": "positive",
        "fda_approved_test": fda,
    }
    if fda and ctx.disease:
        cond["disease"] = ctx.disease
    return Mapped(cond, f"a positive {gene} result" + (" by an FDA-approved test" if fda else ""))


def _biomarker(t: str, ctx: Context) -> Mapped | None:
    return _gene_alteration(t, ctx) or _gene_status(t, ctx)


def _gene_alteration(t: str, ctx: Context) -> Mapped | None:
    """A named alteration: "Presence of KRAS G12C mutation", "EGFR exon 19 deletion or ..."."""
    m = _GENE_TAIL.match(t)
    if not m:
        return None
    kb = ctx.kb
    gene = kb.gene_aliases.get(norm(m.group("gene")))
    if gene is None or re.search(r"\bNOT\b", t):
        return None
    rest = m.group("rest").strip().lower()
    fda = False
    if rest:
        if not re.fullmatch(r"as (?:determined|detected|confirmed) by an fda-approved test", rest):
            return None
        fda = True
    alts: list[str] = []
    for piece in re.split(r"\s*(?:,|\bor\b)\s*", m.group("alts")):
        piece = piece.strip()
        if not piece:
            continue
        canonical = kb.alteration(gene, piece)
        if canonical is None:
            return None
        alts.append(canonical)
    cond: dict[str, Any] = {
        "type": "biomarker",
        "gene": gene,
        "alterations": alts,
        "result": "positive",
        "fda_approved_test": fda,
    }
    if fda and ctx.disease:
        cond["disease"] = ctx.disease
    shown = f"{gene} {' or '.join(alts)}".strip()
    return Mapped(cond, f"a positive {shown} result" + (" by an FDA-approved test" if fda else ""))


def _terms(text: str, ctx: Context) -> list[str] | None:
    """Drug and class names in a phrase ('fluoropyrimidine-, oxaliplatin- and irinotecan-based',
    'pemetrexed and platinum-based chemotherapy'); None when one is not recognised."""
    text = _examples_removed(text)
    text = re.sub(r"\btherapy\b", "", text, flags=re.I).strip()
    parts = [p for p in re.split(r"\s*(?:,|\band\b|\bor\b|/)\s*", text) if p.strip()]
    out: list[str] = []
    for part in parts:
        p = part.strip().strip("-").strip()
        p = re.sub(r"-?based\b", "", p, flags=re.I).strip().strip("-").strip()
        words = norm(p)
        chemo = words.endswith("chemoradiation")
        if chemo:
            words = words.removesuffix("chemoradiation").strip() or "chemotherapy"
        words = re.sub(r"\s*chemotherapy$", "", words).strip() or "chemotherapy"
        found = _term(words, ctx) or _term(norm(p), ctx)
        if found is None:
            return None
        out.append(found)
        if chemo:
            out.append("radiation")
    return out


def _term(words: str, ctx: Context) -> str | None:
    kb = ctx.kb
    candidates = [words]
    brand = re.fullmatch(r"(.+?)\s*\((.+)\)", words)
    if brand:  # "Vectibix (panitumumab)", "EGFR tyrosine kinase inhibitor (TKI)"
        candidates += [brand.group(2).strip(), brand.group(1).strip()]
    for c in candidates:
        if c in kb.class_aliases:
            return kb.class_aliases[c]
        if c in kb.drug_aliases:
            return kb.drug_aliases[c]
    return None


# Sentences about prior therapy that name drugs or classes: (wording, condition fields, why).
_TERM_READERS: list[
    tuple[str, Callable[[list[str]], dict[str, Any]], Callable[[list[str]], str]]
] = [
    (
        r"patient has received prior (?:treatment with )?(.+?)(?:-based)? chemotherapy",
        lambda terms: {"all_classes": terms},
        lambda terms: "prior therapy covering every one of: " + ", ".join(terms),
    ),
    (
        r"disease has progressed on or after (.+?)(?: therapy)?",
        lambda terms: {"any_classes": terms, "progression": True},
        lambda terms: "progression on or after prior " + " or ".join(terms),
    ),
    (
        r"disease has not progressed (?:during or following|on or after|on) (.+)",
        lambda terms: {"all_classes": terms, "progression": False},
        lambda terms: "prior " + " and ".join(terms) + ", without progression",
    ),
    (
        r"patient has not progressed on (?:a |any )?prior (.+)",
        lambda terms: {"not_progressed_on": terms},
        lambda terms: "no progression on a prior " + " or ".join(terms),
    ),
]


def _prior_therapy(t: str, ctx: Context) -> Mapped | None:
    low = _examples_removed(t).lower()
    m = re.fullmatch(
        r"patient has received at least (one|two|three|\d+) prior systemic"
        r" (?:therapy|therapies|treatments?)",
        low,
    )
    if m:
        n = _WORDS.get(m.group(1)) or int(m.group(1))
        return Mapped({"type": "prior_therapy", "min_systemic": n}, f"{n} prior systemic therapy")
    for pattern, fields, why in _TERM_READERS:
        m = re.fullmatch(pattern, low)
        terms = _terms(m.group(1), ctx) if m else None
        if terms:
            return Mapped({"type": "prior_therapy", **fields(terms)}, why(terms))
    m = re.fullmatch(
        r"patient has not received more than (\d+) (years?|months?) of (?:adjuvant )?(.+)", low
    )
    if m:
        months = int(m.group(1)) * (12 if m.group(2).startswith("year") else 1)
        drug = _term(norm(m.group(3)), ctx)
        if drug:
            return Mapped(
                {"type": "prior_therapy", "limit_drug": drug, "limit_months": months},
                f"{drug} given for at most {months} months",
            )
    if re.fullmatch(
        r"adjuvant (?:therapy|treatment)(?: (?:after|following) (?:complete )?"
        r"(?:tumor |surgical )?resection)?",
        low,
    ):
        return Mapped(
            {"type": "setting", "setting": "adjuvant"},
            "the adjuvant setting: after a resection, disease not metastatic",
        )
    if re.fullmatch(r"first[- ]line (?:treatment|therapy)", low):
        return Mapped(
            {"type": "prior_therapy", "max_systemic": 0}, "first line: no prior systemic therapy"
        )
    return None


def _concurrent(t: str, ctx: Context) -> Mapped | None:
    low = t.lower()
    if re.fullmatch(r"(?:used |given )?(?:as (?:a )?single agent|as monotherapy)", low):
        return Mapped({"type": "concurrent_therapy", "single_agent": True}, "used alone")
    m = re.fullmatch(r"(?:used |given )?in combination with (.+)", low)
    if m:
        body = m.group(1)
        terms = _terms(body, ctx)
        if terms:
            key = "with_any" if (len(terms) == 1 or re.search(r"\bor\b", body)) else "with_all"
            return Mapped(
                {"type": "concurrent_therapy", key: terms},
                ("with one of: " if key == "with_any" else "with all of: ") + ", ".join(terms),
            )
    m = re.fullmatch(
        r"(?:patient )?will not (?:use|receive|be used)(?: .+?)? in combination with"
        r" (?:another |other |an? )?(.+)",
        low,
    )
    if m:
        terms = _terms(m.group(1), ctx)
        if terms:
            return Mapped(
                {"type": "concurrent_therapy", "none_of": terms},
                "not with: " + ", ".join(terms),
            )
    return None


_EXTENTS = [
    (r"\blocally advanced or metastatic\b", ["locally_advanced", "metastatic"]),
    (r"\badvanced or metastatic\b", ["locally_advanced", "metastatic"]),
    (r"\blocally advanced\b", ["locally_advanced"]),
    (r"\bmetastatic\b", ["metastatic"]),
]


def _diagnosis(t: str, ctx: Context) -> Mapped | None:
    kb = ctx.kb
    low = t.lower()
    rest = low
    disease = None
    # The longest name first, so "small cell lung cancer" does not read as part of "non-small".
    names = sorted(
        ((name.lower(), key) for key, d in kb.diseases.items() for name in d.names),
        key=lambda nk: -len(nk[0]),
    )
    for name, key in names:
        pattern = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
        if re.search(pattern, rest):
            if disease is not None and disease != key:
                return None
            disease = key
            rest = re.sub(pattern, " ", rest)
    extents: list[str] | None = None
    if re.search(r"\(m[a-z]{2,5}\)", low) and disease:
        extents = ["metastatic"]  # mCRC, mNSCLC: the abbreviation says metastatic
    for pattern, ext in _EXTENTS:
        if re.search(pattern, rest):
            extents = ext
            rest = re.sub(pattern, " ", rest)
            break
    resectable = None
    if re.search(r"\bunresectable\b", rest):
        resectable = False
        rest = re.sub(r"\bunresectable\b", " ", rest)
    rest = re.sub(r"\((?:stage [ivx]+[abc]?|[a-z]+)\)", " ", rest)
    rest = re.sub(r"\b(?:disease|cancer|the|with|patient has|diagnosis of)\b|[(),]", " ", rest)
    if rest.strip():
        return None
    if disease is None:
        if not ctx.disease or (extents is None and resectable is None):
            return None
        disease = ctx.disease  # "Metastatic disease": the indication's own disease
    cond: dict[str, Any] = {"type": "diagnosis", "disease": disease}
    if extents:
        cond["extents"] = extents
    if resectable is not None:
        cond["resectable"] = resectable
    shown = kb.diseases[disease].name
    if extents:
        shown = " or ".join(e.replace("_", " ") for e in extents) + " " + shown
    return Mapped(cond, f"a diagnosis of {shown}")


_READERS: list[Callable[[str, Context], Mapped | None]] = [
    _age,
    _attestation,
    _disease_status,
    _biomarker,
    _prior_therapy,
    _concurrent,
    _diagnosis,
]


def disease_of(text: str, ctx: Context) -> str | None:
    """The disease a line names, for the context of the criteria under it."""
    got = _diagnosis(_clean(text), Context(ctx.kb, ctx.own_names, None))
    return got.condition["disease"] if got and got.condition else None
