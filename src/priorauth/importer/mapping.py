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

from priorauth.importer import clinical
from priorauth.policy.observations import load_observations
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
    flag: str | None = None  # "administrative": a clause a reviewer answers, never typed


_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}


def _clean(text: str) -> str:
    t = re.sub(r"\s+", " ", text).strip().rstrip(".;").strip()
    return t


_WHO = r"(?:the\s+)?(?:member|patient|enrollee|individual|beneficiary|recipient|client)"
_SUBJECT = re.compile(rf"^{_WHO}\b(?!')", re.I)
_WHOSE = re.compile(rf"^{_WHO}'s\s+(tumor|disease|cancer|tumors)\b", re.I)
_UNICODE = str.maketrans(
    {"\u2265": ">=", "\u2264": "<=", "\u2013": "-", "\u2014": "-", "\u2019": "'", "\u00a0": " "}
)


def normalize(text: str, ctx: Context) -> str:
    """One spelling for what documents write many ways: the member is 'patient', a gene's full
    name before its symbol is the symbol, dashes and comparison signs are ASCII."""
    t = _clean(text.translate(_UNICODE))
    # A citation key at the end ("... or older [I]", "... per month [A, B, C]") points to the
    # document's references; it is no part of what the criterion asks.
    t = re.sub(r"\s*\[(?:[A-Z]{1,3}|\d{1,3})(?:\s*,\s*(?:[A-Z]{1,3}|\d{1,3}))*\]$", "", t)
    t = re.sub(r"^(?:documentation|evidence) of (?:an? )?", "", t, flags=re.I)
    t = re.sub(
        r"^(?:documentation|medical records?|chart notes?) (?:confirms?|documents?|"
        r"shows?|supports?)(?: that)?\s+",
        "",
        t,
        flags=re.I,
    )
    t = _WHOSE.sub(lambda m: m.group(1).lower(), t)
    t = _SUBJECT.sub("patient", t)
    t = re.sub(r"^patient (?:must have|has|have)\b", "patient has", t, flags=re.I)
    t = re.sub(
        r"^(tumor|disease|cancer)s? (?:must be|must have|are|were|was)\b",
        lambda m: f"{m.group(1)} {'has' if 'have' in m.group(0) else 'is'}",
        t,
        flags=re.I,
    )
    low = t.lower()
    for name, gene in ctx.kb.gene_full_names.items():
        i = low.find(name)
        if i < 0:
            continue
        m = re.compile(rf"{re.escape(name)}\s*\(([A-Za-z0-9/-]+?)\)", re.I).search(t, i)
        if m and ctx.kb.gene_aliases.get(norm(m.group(1))) == gene:
            t = t[: m.start()] + m.group(1) + t[m.end() :]
            low = t.lower()
    return t


def _examples_removed(text: str) -> str:
    return re.sub(r"\s*\((?:e\.g\.|eg|such as|for example)[^)]*\)", "", text, flags=re.I).strip()


def map_criterion(text: str, ctx: Context) -> Mapped:
    t = normalize(text, ctx)
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
    if administrative(t):
        return Mapped(
            None,
            "an administrative clause (benefit, formulary, compendia or records): a reviewer's"
            " question",
            flag="administrative",
        )
    return Mapped(None, "no typed condition reads this wording with certainty")


# --- readers -----------------------------------------------------------------------------


_AGE_FORMS = [
    # 18 years of age or older; Age 18 years or older; patient is 18 years old or older
    r"(?:age\s*:?\s*)?(?:patient is\s+)?(?:aged\s+)?(?P<n>\d+)\s*(?:years?|yrs?)(?: of age| old)?"
    r"\s*(?:or|and) (?:older|above|over|greater)(?: in age)?",
    # Age >= 18 years; patient is >= 18 years of age; age greater than or equal to 18
    r"(?:age\s*:?\s*|(?:the )?(?:patient|member) is\s+(?:age\s+)?|patient age\s*)"
    r"(?:>=|=>|greater than or equal to\s*)"
    r"\s*(?P<n>\d+)(?:\s*(?:years?|yrs?)(?: of age| old)?)?",
    # at least 18 years old; patient is at least 18 years of age; Age at least 18 years
    r"(?:age\s*:?\s*)?(?:patient is\s+|patient must be\s+)?at least (?P<n>\d+)\s*(?:years?|yrs?)"
    r"(?: of age| old)?(?: or older)?",
]


def _age(t: str, ctx: Context) -> Mapped | None:
    for form in _AGE_FORMS:
        m = re.fullmatch(form, t, re.I)
        if m:
            n = int(m.group("n"))
            return Mapped({"type": "age", "min_years": n}, f"an age of at least {n} years")
    got = clinical.read_age(t)
    return Mapped({"type": "age", **got[0]}, got[1]) if got else None


def _observation_key(name: str) -> str | None:
    kind = load_observations().find(None, name)
    return kind.key if kind is not None else None


def _unit_converts(cond: dict[str, Any]) -> bool:
    """A unit the document writes must be one the observation can be compared in."""
    unit = cond.get("unit")
    return unit is None or load_observations().kind(cond["observation"]).factor(unit) is not None


def _measurement(t: str, ctx: Context) -> Mapped | None:
    """A lab result, score or count against a threshold, or its change from baseline."""
    got = clinical.read_change(t, _observation_key)
    if got is not None:
        fields, said = got
        cond = {
            "type": "observation",
            "observation": fields["observation"],
            "op": "<=",
            "value": -fields["decrease_pct"],
            "change": "percent",
        }
        return Mapped(cond, said)
    got = clinical.read_threshold(t, _observation_key)
    if got is None:
        return None
    fields, said = got
    if fields.get("separate_days") and fields.get("min_count", 1) < 2:
        return None
    fields.pop("separate_days", None)  # two values always come from different days
    if "min_count" in fields:
        fields["count"] = fields.pop("min_count")
    cond = {"type": "observation", **fields}
    return Mapped(cond, said) if _unit_converts(cond) else None


def _bmi(t: str, ctx: Context) -> Mapped | None:
    got = clinical.read_bmi(t, _observation_key)
    if got is None:
        return None
    fields, said = got
    if "min" not in fields:
        return None  # only the comorbidity half: the condition always has a BMI alone
    cond: dict[str, Any] = {"type": "bmi", "min": fields["min"]}
    if "min_with_comorbidity" in fields:
        if any(d not in ctx.kb.diseases for d in fields["comorbidities"]):
            return None  # a group naming a disease the tables do not hold
        cond["min_with_comorbidity"] = fields["min_with_comorbidity"]
        cond["comorbidities"] = fields["comorbidities"]
    return Mapped(cond, said)


def _dose_limit(t: str, ctx: Context) -> Mapped | None:
    got = clinical.read_dose_limit(t)
    return Mapped({"type": "dose_limit", **got[0]}, got[1]) if got else None


def _sex(t: str, ctx: Context) -> Mapped | None:
    got = clinical.read_sex(t)
    return Mapped({"type": "sex", "sexes": [got[0]["sex"]]}, got[1]) if got else None


def _attestation(t: str, ctx: Context) -> Mapped | None:
    if not re.match(r"^prescriber (?:agrees|attests|will|must|has agreed)\b", t, re.I):
        return None
    if re.match(r"^prescriber must be (?:an? |board)", t, re.I):
        return None  # who the prescriber is ("must be a cardiologist"), not what they attest
    topics = []
    low = t.lower()
    rest = re.sub(r"^prescriber (?:agrees|attests|will|must|has agreed)( to)? monitor\b", "", low)
    where: dict[str, int] = {}
    for topic, words in ctx.kb.attestation_topics.items():
        for w in sorted(words, key=len, reverse=True):
            pattern = rf"\b{re.escape(w.lower())}\b"
            found = re.search(pattern, low)
            if found:
                if topic not in topics:
                    topics.append(topic)
                where[topic] = min(where.get(topic, found.start()), found.start())
                rest = re.sub(pattern, " ", rest)
    topics.sort(key=lambda k: where[k])  # in the sentence's order
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


_ON_THERAPY = (
    r"(?: (?:while )?(?:on|during|with) (?:therapy|treatment|the requested"
    r" (?:drug|medication|agent))| since starting therapy)?"
)
_NO_PROGRESSION = (
    r"(?:no (?:evidence of )?(?:disease progression|progressive disease|progression of disease)"
    r"|absence of (?:disease progression|progressive disease)"
    r"|(?:patient|disease|tumor) (?:does not show|has no|shows no) (?:evidence of )?"
    r"(?:disease progression|progressive disease|progression)"
    r"|(?:disease|patient) has not progressed)" + _ON_THERAPY
)
_NO_TOXICITY = r"(?:no |absence of |without )?unacceptable toxicity" + _ON_THERAPY
_RESPONSE = (
    r"(?:(?:patient|disease) (?:is responding|has responded|continues to respond) positively to"
    r" (?:therapy|treatment)|(?:patient has (?:had |experienced |demonstrated )?)?(?:a )?"
    r"positive clinical response(?: to (?:therapy|treatment))?"
    r"|(?:patient has (?:had |experienced |demonstrated )?)?(?:a )?(?:clinical )?benefit from"
    r" (?:therapy|treatment))"
)


def _disease_status(t: str, ctx: Context) -> Mapped | None:
    low = re.sub(rf"\b{_own(ctx)} (?:therapy|treatment)\b", "therapy", t.lower())
    low = re.sub(rf"\bon {_own(ctx)}$", "on therapy", low)
    m = re.fullmatch(r"no disease progression(?: or (unacceptable toxicity))?", low)
    if m:
        return Mapped(
            {
                "type": "disease_status",
                "no_progression": True,
                "no_unacceptable_toxicity": bool(m.group(1)),
            },
            "no disease progression" + (" or unacceptable toxicity" if m.group(1) else ""),
        )
    parts = re.split(r",? (?:and|or) (?=no |absence|unacceptable|without|positive|a positive)", low)
    prog = tox = resp = False
    for part in parts:
        if re.fullmatch(_NO_PROGRESSION, part):
            prog = True
        elif re.fullmatch(_NO_TOXICITY, part) and (
            part.startswith(("no ", "absence", "without")) or len(parts) > 1
        ):
            tox = True
        elif re.fullmatch(_RESPONSE, part):
            resp = True
        else:
            return None
    if not (prog or tox or resp):
        return None
    said = [
        w
        for w, on in (
            ("no disease progression", prog),
            ("no unacceptable toxicity", tox),
            ("a positive clinical response", resp),
        )
        if on
    ]
    return Mapped(
        {
            "type": "disease_status",
            "no_progression": prog,
            "no_unacceptable_toxicity": tox,
            "positive_response": resp,
        },
        " and ".join(said),
    )


_BM_PREFIX = re.compile(
    r"^(?:(?:presence of|tumor has|tumor is|tumors are|tumor harbors|tumor tests positive for|"
    r"tumor expresses|patient has|patient harbors|patient is positive for|patient tests positive"
    r" for|disease is|disease has|disease harbors|documented|confirmed|positive for|harbors|"
    r"evidence of|cancer is|cancer has)\s+(?:an?\s+|the\s+)?)?",
    re.I,
)
_BM_TEST = re.compile(
    r",?\s*(?:as\s+)?(?:(?:determined|detected|confirmed|identified|documented|tested)\s+)?"
    r"(?:by|using|with|via|on)\s+(?:an?\s+)?(?P<test>"
    r"fda[- ]approved (?:test|assay|companion diagnostic)"
    r"(?: or (?:a |an )?(?:test (?:performed |conducted )?(?:in|at|by) (?:a |an )?)?"
    r"clia[- ]certified laborator(?:y|ies)(?: test)?)?"
    r"|(?:a )?test (?:performed |conducted )?(?:in|at|by) (?:a |an )?clia[- ]certified laboratory"
    r"|(?:a )?clia[- ]certified laboratory(?: test)?)$",
    re.I,
)
_BM_KIND = re.compile(
    r"^(?:gene\s+)?(?:(?P<alts>.+?)[- ])?(?P<kind>mutation-positive|mutations?|mutated|mutant|"
    r"variants?|alterations?|positive|negative|fusion-positive|(?:gene )?fusions?|"
    r"rearrangement-positive|rearrangements?|rearranged|translocation|amplification|amplified|"
    r"overexpression|overexpressed)(?:\s+(?:disease|tumors?|cancer))?$",
    re.I,
)
_FUSION = ("fusion", "rearrange", "translocation")


def _gene_prefix(body: str, ctx: Context) -> tuple[str, str] | None:
    """The longest leading run of words that names a gene, and what follows it."""
    found = None
    for m in re.finditer(r"[ -]|$", body):
        cand = body[: m.start()]
        gene = ctx.kb.gene_aliases.get(norm(cand))
        if gene is not None:
            found = (gene, body[m.end() :] if m.group(0) else "")
        if m.start() >= len(body):
            break
    return found


def _biomarker(t: str, ctx: Context) -> Mapped | None:
    """A gene's result: "Presence of KRAS G12C mutation as determined by an FDA-approved test",
    "Tumor is ALK-positive", "harbors a MET exon 14 skipping mutation", "HER2-negative",
    "RET fusion-positive ... by an FDA-approved test or a test performed in a CLIA-certified
    laboratory" (any test then counts)."""
    if re.search(r"\bNOT\b|\bnot\b|\bno\b", t):
        return None
    body = _examples_removed(t)
    fda: bool | None = None
    tm = _BM_TEST.search(body)
    if tm:
        fda = "clia" not in tm.group("test").lower()
        body = body[: tm.start()].strip()
    for _ in range(2):  # "Tumor is positive for ..."
        body = _BM_PREFIX.sub("", body, count=1).strip()
    split = _gene_prefix(body, ctx)
    if split is None:
        return None
    gene, rest = split
    km = _BM_KIND.fullmatch(rest.strip())
    if not km:
        return None
    kind = km.group("kind").lower()
    alts_text = (km.group("alts") or "").strip()
    result = "negative" if kind == "negative" else "positive"
    alts: list[str] = []
    if alts_text:
        if kind in ("negative",) or kind.startswith(_FUSION) or "fusion" in kind:
            return None  # "KIF5B-RET fusion": a partner the vocabulary does not hold
        for piece in re.split(r"\s*(?:,|\bor\b)\s*", alts_text):
            piece = piece.strip()
            if not piece:
                continue
            canonical = ctx.kb.alteration(gene, piece)
            if canonical is None:
                return None
            alts.append(canonical)
    elif any(w in kind for w in _FUSION):
        alts = ["FUSION"]
    elif kind.startswith("amplif"):
        alts = ["AMPLIFICATION"]
    elif kind.startswith("overexpress"):
        alts = ["OVEREXPRESSION"]
    elif kind.startswith("mutat") or kind == "mutant":
        alts = ["MUTATION"]
    cond: dict[str, Any] = {
        "type": "biomarker",
        "gene": gene,
        "alterations": alts,
        "result": result,
        "fda_approved_test": bool(fda),
    }
    if fda and ctx.disease:
        cond["disease"] = ctx.disease
    shown = f"{gene} {' or '.join(a.lower() if a.isalpha() else a for a in alts)}".strip()
    how = (
        " by an FDA-approved test"
        if fda
        else " by an FDA-approved test or a CLIA-certified laboratory: any reported result"
        if fda is False
        else ""
    )
    return Mapped(cond, f"a {result} {shown} result{how}")


def _terms(text: str, ctx: Context) -> list[str] | None:
    """Drug and class names in a phrase ('fluoropyrimidine-, oxaliplatin- and irinotecan-based',
    'pemetrexed and platinum-based chemotherapy'); None when one is not recognised."""
    text = _examples_removed(text)
    # A class whose own name holds "or" ("medium or higher potency topical corticosteroid") is
    # one term, not two.
    whole = re.sub(r"^(?:an?|the|another|other|any)\s+", "", text.strip(), flags=re.I)
    if re.search(r"\b(?:or|and)\b", whole) and norm(whole) in ctx.kb.class_aliases:
        return [ctx.kb.class_aliases[norm(whole)]]
    parts = []
    for piece in re.split(r"\s*(?:,|\band/or\b|\band\b|\bor\b)\s*", text):
        bare = re.sub(
            r"^(?:an?|the|another|other|any|prior|previous)\s+", "", piece.strip(), flags=re.I
        )
        if "/" in bare and _term(norm(bare), ctx) is None:
            # "carboplatin/pemetrexed" is two drugs given together (a slash joining names is
            # read by _conj as neither plainly AND nor OR); "CDK4/6 inhibitor" is one name.
            parts += bare.split("/")
        else:
            parts.append(piece)
    parts = [p for p in parts if p.strip()]
    out: list[str] = []
    for part in parts:
        p = part.strip().strip("-").strip()
        p = re.sub(
            r"^(?:an?|the|another|other|any|prior|previous|one or more|at least one)\s+",
            "",
            p,
            flags=re.I,
        )
        p = re.sub(r"-?based\b", "", p, flags=re.I).strip().strip("-").strip()
        words = norm(p)
        chemo = words.endswith("chemoradiation")
        if chemo:
            words = words.removesuffix("chemoradiation").strip() or "chemotherapy"
        bare = re.sub(r"\s+(?:therapy|therapies|treatment|agents?|drugs?|medications?)$", "", words)
        bare = bare.strip() or words
        unchemo = re.sub(r"\s*chemotherapy$", "", bare).strip() or "chemotherapy"
        found = None
        for cand in (words, bare, unchemo, f"{words} therapy"):
            found = _term(cand, ctx)
            if found is not None:
                break
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
    # A plural ("EGFR TKIs", "biologic DMARDs") names the class as its singular does.
    candidates += [c[:-1] for c in candidates if c.endswith("s") and len(c) > 3]
    for c in candidates:
        if c in kb.class_aliases:
            return kb.class_aliases[c]
        if c in kb.drug_aliases:
            return kb.drug_aliases[c]
    return None


def _conj(body: str) -> str | None:
    """How a list of drugs or classes is joined: "or" (one of), "and" (every one), or None when
    it says both and the grouping is not clear."""
    body = _examples_removed(body)
    if re.search(r"[A-Za-z]{3,}/[A-Za-z]{3,}", body):
        return None  # "carboplatin/pemetrexed" (together) or "PD-1/PD-L1" (either): not said
    has_or = re.search(r"\bor\b", body) is not None
    has_and = re.search(r"\band\b", body) is not None
    if has_or and has_and:
        return None
    return "or" if has_or else "and"


_SYSTEMIC = (
    r"(?:(?:systemic|anticancer|anti-cancer|systemic anticancer)"
    r" (?:therapy|therapies|treatments?|regimens?)|lines? of (?:systemic )?(?:therapy|treatment))"
)
_COUNT = r"(?P<n>one|two|three|\d+)"
_PROGRESSED = (
    r"(?:(?:disease|patient|tumor|cancer) has (?:progressed|experienced disease progression|had"
    r" disease progression)|(?:disease )?progression|(?:disease|patient) is refractory|refractory)"
    r" (?:on or after|on or following|during or after|during or following|on|after|following|to)"
)
_PRIOR = (
    r"(?:(?:at least one|one or more|a|an|any) )?(?:prior |previous )?"
    r"(?:treatment with |therapy with )?"
)


def _count(word: str) -> int:
    return _WORDS.get(word) or int(word)


def _prior_therapy(t: str, ctx: Context) -> Mapped | None:
    low = _examples_removed(t).lower()
    low = re.sub(r"^patient has been (?:previously )?treated with", "patient has received", low)
    low = re.sub(r"^patient was (?:previously )?treated with", "patient has received", low)
    m = re.fullmatch(
        rf"(?:patient has received |after |following )?at least {_COUNT} (?:prior )?"
        rf"(?:lines? of )?(?:prior )?{_SYSTEMIC}",
        low,
    )
    if m:
        n = _count(m.group("n"))
        return Mapped({"type": "prior_therapy", "min_systemic": n}, f"{n} prior systemic therapy")
    m = re.fullmatch(rf"{_PROGRESSED} (?:at least {_COUNT} )?{_PRIOR}{_SYSTEMIC}", low)
    if m:
        n = _count(m.group("n") or "one")
        return Mapped(
            {"type": "prior_therapy", "min_systemic": n, "progression": True},
            f"progression on or after {n} prior systemic therapy",
        )
    m = re.fullmatch(rf"{_PROGRESSED} {_PRIOR}(?P<terms>.+?)(?: therapy| treatment)?", low)
    if m:
        terms = _terms(m.group("terms"), ctx)
        conj = _conj(m.group("terms"))
        if terms and conj:
            key = "any_classes" if conj == "or" or len(terms) == 1 else "all_classes"
            return Mapped(
                {"type": "prior_therapy", key: terms, "progression": True},
                "progression on or after prior " + f" {conj} ".join(terms),
            )
    m = re.fullmatch(r"disease has not progressed (?:during or following|on or after|on) (.+)", low)
    if m:
        terms = _terms(m.group(1), ctx)
        if terms and _conj(m.group(1)) == "and":
            return Mapped(
                {"type": "prior_therapy", "all_classes": terms, "progression": False},
                "prior " + " and ".join(terms) + ", without progression",
            )
    m = re.fullmatch(r"patient has not progressed on (?:a |any )?prior (.+)", low)
    if m:
        terms = _terms(m.group(1), ctx)
        if terms:
            return Mapped(
                {"type": "prior_therapy", "not_progressed_on": terms},
                "no progression on a prior " + " or ".join(terms),
            )
    m = re.fullmatch(
        r"(?:patient has not (?:received|had|been (?:previously )?treated with)|no)"
        rf" {_PRIOR}(?P<terms>.+?)(?: therapy| treatment)?",
        low,
    )
    if m:
        body = m.group("terms")
        if re.fullmatch(r"systemic|anticancer|systemic anticancer", body):
            return Mapped({"type": "prior_therapy", "max_systemic": 0}, "no prior systemic therapy")
        terms = _terms(body, ctx)
        if terms and (len(terms) == 1 or _conj(body) == "or"):
            return Mapped(
                {"type": "prior_therapy", "not_received": terms},
                "never given " + " or ".join(terms),
            )
    m = re.fullmatch(
        r"(?:patient has received|following|after) (?:prior |previous )?(?:treatment with )?"
        r"(?P<terms>.+?)(?:-based)?(?: chemotherapy| therapy| treatment)?",
        low,
    )
    if m and not re.match(r"(?:at least|more than|no |not )", m.group("terms")):
        body = m.group("terms") + (" chemotherapy" if low.endswith("chemotherapy") else "")
        terms = _terms(body, ctx)
        conj = _conj(body)
        if terms and conj:
            key = "any_classes" if conj == "or" or len(terms) == 1 else "all_classes"
            named = "prior therapy covering " + (
                "one of: " if key == "any_classes" else "every one of: "
            )
            return Mapped({"type": "prior_therapy", key: terms}, named + ", ".join(terms))
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
        r"(?:as )?adjuvant (?:therapy|treatment)(?: (?:after|following) (?:complete )?"
        r"(?:tumor |surgical )?resection)?",
        low,
    ):
        return Mapped(
            {"type": "setting", "setting": "adjuvant"},
            "the adjuvant setting: after a resection, disease not metastatic",
        )
    if re.fullmatch(
        r"(?:used |given |requested )?(?:as )?(?:a )?first[- ]line (?:treatment|therapy)", low
    ):
        return Mapped(
            {"type": "prior_therapy", "max_systemic": 0}, "first line: no prior systemic therapy"
        )
    return None


_OUTCOME_WORDS = {
    "trial and failure": "failure",
    "failure": "failure",
    "treatment failure": "failure",
    "inadequate response": "failure",
    "inadequate treatment response": "failure",
    "progression": "failure",
    "intolerance": "intolerance",
    "contraindication": "contraindication",
    "trial": "failure+intolerance",
}
_OUTCOME = "|".join(sorted(_OUTCOME_WORDS, key=len, reverse=True))


_PERIOD = r"(?P<n>\d+) (?P<period>days?|weeks?|months?)"
_PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}


def _step_qualifiers(low: str) -> tuple[str, dict[str, Any]] | None:
    """What a step says beyond the drugs and outcomes, taken off its end: how long each was
    tried, at what dose, and whether they must come from different classes. None when a
    qualifier is said twice."""
    fields: dict[str, Any] = {}
    forms: list[tuple[str, Callable[[re.Match[str]], dict[str, Any]]]] = [
        (
            rf",? (?:each )?(?:tried |used |taken |given )?for (?:at least|a minimum of)"
            rf" {_PERIOD}$",
            lambda m: {"min_days": int(m.group("n")) * _PERIOD_DAYS[m.group("period").rstrip("s")]},
        ),
        (
            # Only a daily dose: a weekly one ("15 mg per week") is not a daily dose a request's
            # daily_dose_mg can be held to without rounding, so it stays a question.
            r",? at (?:a dose of )?(?:at least|a minimum of) (?P<dose>\d+(?:\.\d+)?) ?mg"
            r" (?:per|a|each|every|/) ?day$",
            lambda m: {"min_daily_dose_mg": float(m.group("dose"))},
        ),
        (
            r",? (?:from|of|in) (?:two )?different (?:drug |therapeutic )?classes$",
            lambda m: {"different_classes": True},
        ),
    ]
    changed = True
    while changed:
        changed = False
        for pattern, read in forms:
            m = re.search(pattern, low)
            if m:
                got = read(m)
                if set(got) & set(fields):
                    return None
                fields.update(got)
                low = low[: m.start()]
                changed = True
    return low, fields


def _step_therapy(t: str, ctx: Context) -> Mapped | None:
    """Trial and failure, intolerance or contraindication to named drugs or classes; how long
    each was tried, at what dose, from how many different classes."""
    low = _examples_removed(t).lower()
    qualified = _step_qualifiers(low)
    if qualified is None:
        return None
    low, extra = qualified
    # "has tried (used, taken) X for at least 12 weeks": tried that long, whatever came of it;
    # never a contraindication, which means it was not tried.
    low = re.sub(r"^patient has (?:tried|used|taken|had a trial of) ", "trial of ", low)
    low = re.sub(
        r"patient has had an? inadequate response to,? or is intolerant (?:of|to),?",
        "inadequate response or intolerance to",
        low,
    )
    low = re.sub(
        r"^patient has (?:had |experienced |a |an )*|^(?:documented )?history of (?:an? )?"
        r"|^documented |^patient has a (?:documented )?history of (?:an? )?",
        "",
        low,
    )
    low = re.sub(r"^(?:an? )", "", low)
    low = re.sub(
        r"patient has had an? inadequate response to,? or is intolerant (?:of|to),?",
        "inadequate response or intolerance to",
        low,
    )
    low = re.sub(
        r"^(?:patient )?is intolerant (?:of|to) or has an? contraindication to",
        "intolerance or contraindication to",
        low,
    )
    low = re.sub(
        r"^patient (?:is intolerant (?:of|to)|has an? contraindication to)",
        lambda m: "intolerance to" if "intolerant" in m.group(0) else "contraindication to",
        low,
    )
    low = re.sub(rf"\b({_OUTCOME})\s+(?:on|to|of|with)(?=\s*(?:,|or\b|and/or\b))", r"\1", low)
    m = re.fullmatch(
        rf"(?P<outs>(?:{_OUTCOME})(?:(?:,|,? or|,? and/or|,? and) (?:an? )?(?:{_OUTCOME}))*)"
        rf" (?:to|of|on|with) (?:(?:at least )?{_COUNT} (?:(?P<list>of the following|or more)"
        rf"(?: (?:drugs|agents|medications|therapies|products))?:? )?)?"
        r"(?P<terms>.+)",
        low,
    )
    if not m:
        return None
    said = re.findall(_OUTCOME, m.group("outs"))
    if set(said) == {"progression"}:
        return None  # "progression on X" alone is prior therapy with progression, not a step
    outcomes = sorted({o for w in said for o in _OUTCOME_WORDS[w].split("+")})
    body = m.group("terms")
    terms = _terms(body, ctx)
    if not terms:
        return None
    n = _count(m.group("n")) if m.group("n") else 1
    if m.group("n") and not m.group("list") and (len(terms) > 1 or not ctx.kb.is_class(terms[0])):
        return None  # "two preventive medications": a count stands before one class
    if len(terms) > 1 and _conj(body) != "or" and not m.group("n"):
        return None  # "methotrexate and a TNF inhibitor": each one, which the count cannot say
    if extra.get("different_classes"):
        # "two preventive medications from different classes": counted among the classes the
        # tables divide that class into.
        division = clinical.class_division(terms[0]) if len(terms) == 1 else None
        if n < 2 or division is None or any(not ctx.kb.is_class(c) for c in division):
            return None
        terms = list(division)
    cond = {"type": "step_therapy", "drugs": terms, "outcomes": outcomes, "min_count": n, **extra}
    return Mapped(
        cond,
        f"step therapy: {n} of {', '.join(terms)} tried, with " + " or ".join(outcomes),
    )


def _own(ctx: Context) -> str:
    names = sorted(ctx.own_names, key=len, reverse=True)
    own = "|".join(re.escape(n) for n in names) if names else "(?!x)x"
    return rf"(?:{own}|the requested (?:drug|medication|product|agent)|this (?:drug|medication)|it)"


def _continuation(t: str, ctx: Context) -> Mapped | None:
    low = t.lower()
    m = re.fullmatch(
        rf"patient is currently (?:receiving|on|taking|being treated with|using)"
        rf" (?:therapy with |treatment with )?{_own(ctx)}(?P<tail>.*)",
        low,
    )
    if not m:
        return None
    tail = m.group("tail").strip()
    if not tail or re.fullmatch(r"\((?:including|includes) (?:manufacturer )?samples\)", tail):
        return Mapped({"type": "continuation"}, "currently receiving the requested drug")
    if re.fullmatch(
        r",?\s*(?:\(|and )?(?:excluding|not (?:including|through|via|from|by means of|obtained"
        r" (?:through|via|from))|other than(?: through)?|is not receiving it (?:through|via))"
        r" (?:manufacturer |free )?samples\)?",
        tail,
    ):
        return Mapped(
            {"type": "continuation", "excludes_samples": True},
            "currently receiving the requested drug, not through samples",
        )
    return None


def _prescriber(t: str, ctx: Context) -> Mapped | None:
    low = re.sub(r",?\s+or in consultation with,?", " or in consultation with", t.lower())
    low = re.sub(r"\bby,\s", "by ", low)
    low = re.sub(r"\s+", " ", low)
    m = re.fullmatch(
        rf"(?:(?:{_own(ctx)}|therapy|treatment|(?:the )?medication) (?:(?:is|must be|will be) )?|"
        r"must be )?(?:prescribed|initiated)"
        r" by(?P<consult> or in consultation with)? (?P<who>.+)"
        r"|(?:patient is being (?:treated|seen) by|prescriber is|the prescriber is) (?P<who2>.+)",
        low,
    )
    if not m:
        return None
    who = m.group("who") or m.group("who2")
    who = re.sub(r"^(?:one|any) of the following:?\s*", "", who)
    wanted: list[str] = []
    for part in re.split(r"\s+or\s+|\s+and/or\s+|\s*,\s*", who):
        part = re.sub(r"^(?:an?|the)\s+", "", part.strip())
        # "a provider specializing in dermatology": the specialty is named for its field
        part = re.sub(
            r"^(?:provider|physician|prescriber|doctor)s? (?:specializing|who specializes?) in ",
            "",
            part,
        )
        keys = ctx.kb.specialty(part)
        if not keys:
            return None
        # The key the table files this specialist under (not everything it also counts as).
        key = ctx.kb.specialty_aliases.get(norm(part)) or keys
        primary = next(
            (k for k in sorted(key) if ctx.kb.specialty_aliases.get(norm(k)) == key), sorted(key)[0]
        )
        if primary not in wanted:
            wanted.append(primary)
    consult = bool(m.group("consult"))
    return Mapped(
        {"type": "prescriber_specialty", "specialties": wanted, "consultation": consult},
        "prescribed by " + ("or in consultation with " if consult else "") + " or ".join(wanted),
    )


_ADMIN = re.compile(
    r"\b(?:compendi\w*|nccn|off-label|formulary|non-formulary|generic (?:equivalent|alternative|"
    r"version)|biosimilar|preferred (?:product|agent|drug|medication)s?|medical records (?:must|"
    r"should)|chart notes|(?:must|will) be (?:provided|submitted)|benefit|site of care|state"
    r" mandate|refer to|off-label use policy|reimburse\w*|cost|plan (?:exception|policy)|"
    r"quantity limit exception|step therapy exception)\b",
    re.I,
)


def administrative(t: str) -> bool:
    """A clause about benefits, formularies, compendia or paperwork: a reviewer's question."""
    return _ADMIN.search(t) is not None


def _concurrent(t: str, ctx: Context) -> Mapped | None:
    low = t.lower()
    own = _own(ctx)
    if re.fullmatch(
        rf"(?:(?:{own} (?:is |will be )?)?(?:used |given |prescribed )?)?"
        r"(?:as (?:a )?single agent|as monotherapy)",
        low,
    ):
        return Mapped({"type": "concurrent_therapy", "single_agent": True}, "used alone")
    m = re.fullmatch(
        rf"(?:(?:patient will (?:use|receive|take) )?{own} )?(?:(?:is|will be) )?"
        r"(?:(?:used |given |prescribed )?(?:in combination with|concurrently with)"
        r"|(?:used|given|prescribed) with) (.+)",
        low,
    )
    if m and not re.match(r"(?:another|other)\b", m.group(1)):
        body = m.group(1)
        terms = _terms(body, ctx)
        conj = _conj(body)
        if terms and conj:
            key = "with_any" if (len(terms) == 1 or conj == "or") else "with_all"
            return Mapped(
                {"type": "concurrent_therapy", key: terms},
                ("with one of: " if key == "with_any" else "with all of: ") + ", ".join(terms),
            )
    m = re.fullmatch(
        rf"(?:patient )?(?:{own} |(?:the )?medication )?(?:will|is|must) not (?:be )?(?:use|"
        rf"receive|take|used|given|prescribed|taken|received|receiving|using|taking)(?: {own})?"
        r" (?:in combination|concurrently|concomitantly|"
        r"together) with (?:another |other |an? |any )?(.+)"
        r"|(?:not (?:to be )?used|no concomitant use|no concurrent use)"
        r" (?:in combination with|with|of) (?:another |other |an? |any )?(.+)",
        low,
    )
    if m:
        body = m.group(1) or m.group(2)
        # "another DAA [e.g., Sovaldi (sofosbuvir)]": the examples at the end are members of
        # the class named, which the condition already excludes
        body = re.sub(
            r"\s*[(\[]\s*(?:e\.g\.?|eg|such as|for example),?\s[^\[\]]*?[)\]]\s*$", "", body
        )
        terms = _terms(body, ctx)
        if terms and (len(terms) == 1 or _conj(body) == "or"):
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
    (r"\badvanced\b", ["locally_advanced", "metastatic"]),
]
_DX_PREFIX = re.compile(
    r"^(?:patient has (?:a |an )?(?:(?:confirmed|documented|established) )?(?:diagnosis of )?"
    r"|(?:a |an )?(?:confirmed |documented |established )?diagnosis of "
    r"|patient (?:is|has been|was) diagnosed with (?:a |an )?|documented "
    r"|(?:disease|tumor|cancer) is )"
)


_SEVERITY = re.compile(
    r"^(?P<a>mild|moderate|severe)(?:ly)?(?:(?:\s*-\s*to\s*-\s*|\s+to\s+|\s*-\s*|\s+or\s+)"
    r"(?P<b>mild|moderate|severe)(?:ly)?)?"
    r"(?:-?\s*(?P<active>active))?\b\s*"
)
_SEVERITIES = ("mild", "moderate", "severe")


def _severities(low: str) -> tuple[list[str] | None, str]:
    """'moderate-to-severe', 'moderately to severely active', 'severe' before the disease: the
    severities it accepts (a range includes what lies between), and the rest of the wording."""
    m = _SEVERITY.match(low)
    if not m:
        return None, low
    a = _SEVERITIES.index(m.group("a"))
    b = _SEVERITIES.index(m.group("b")) if m.group("b") else a
    if b < a:
        return None, low
    if m.group("active") and not m.group("b") and not m.group(0).startswith(m.group("a") + "ly"):
        return None, low  # "severe active": a wording no document uses; leave it to a person
    return list(_SEVERITIES[a : b + 1]), low[m.end() :]


def _diagnosis(t: str, ctx: Context) -> Mapped | None:
    kb = ctx.kb
    low = _DX_PREFIX.sub("", t.lower(), count=1)
    severities, low = _severities(low)
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
    either = False
    if re.search(r"\(m[a-z]{2,5}\)", low) and disease:
        extents = ["metastatic"]  # mCRC, mNSCLC: the abbreviation says metastatic
    pair = r"\b(?:unresectable or metastatic|metastatic or unresectable)\b"
    if re.search(pair, rest):
        # Either is enough: unresectable disease, or metastatic disease.
        extents, either = ["metastatic"], True
        rest = re.sub(pair, " ", rest)
    for pattern, ext in [] if either else _EXTENTS:
        if re.search(pattern, rest):
            extents = ext
            rest = re.sub(pattern, " ", rest)
            break
    resectable = False if either else None
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
    if severities:
        cond["severities"] = severities
    if extents:
        cond["extents"] = extents
    if resectable is not None:
        cond["resectable"] = resectable
    if either:
        cond["extent_or_unresectable"] = True
    shown = kb.diseases[disease].name
    if severities:
        shown = " or ".join(severities) + " " + shown
    if either:
        shown = "unresectable or metastatic " + shown
    elif extents:
        shown = " or ".join(e.replace("_", " ") for e in extents) + " " + shown
    return Mapped(cond, f"a diagnosis of {shown}")


_READERS: list[Callable[[str, Context], Mapped | None]] = [
    _age,
    _sex,
    _bmi,
    _dose_limit,
    _measurement,
    _attestation,
    _prescriber,
    _disease_status,
    _biomarker,
    _continuation,
    _step_therapy,
    _prior_therapy,
    _concurrent,
    _diagnosis,
]


def disease_of(text: str, ctx: Context) -> str | None:
    """The disease a line names, for the context of the criteria under it."""
    got = _diagnosis(_clean(text), Context(ctx.kb, ctx.own_names, None))
    return got.condition["disease"] if got and got.condition else None
