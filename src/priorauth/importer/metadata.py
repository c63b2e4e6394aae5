"""What a document says about itself: its title, policy number, the drug's brand and generic
names, its dates (every date form a parser here reads) and its history; for FEP's layout and for
the layouts of other plans."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from priorauth.errors import DocumentError
from priorauth.importer import dates
from priorauth.importer.document import Document, Line
from priorauth.importer.drugs import chosen_drug, clean_name, named_pair
from priorauth.importer.layouts import Blocks
from priorauth.importer.result import ImportResult
from priorauth.importer.structure import Section
from priorauth.policy.tables import Knowledge, norm

_DATE = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2},\s+\d{4}"
)

_FEP_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}

_DATE_WORDS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
)


def parse_date(text: str) -> dt.date | None:
    m = re.search(_DATE, text)
    if not m:
        return None
    return dt.datetime.strptime(re.sub(r"\s+", " ", m.group(0)), "%B %d, %Y").date()


def parse_any_date(text: str) -> dt.date | None:
    return dates.parse_date(text)


def drug_names(lines: list[Line], kb: Knowledge) -> tuple[str, str] | None:
    """(brand, generic) of the drug the document is about (drugs.py reads how plans write it)."""
    first, _ = chosen_drug(lines, kb)
    return (first.brand, first.generic) if first else None


def number_of(text: str) -> str | None:
    m = re.search(
        r"\b(?:guideline|program|policy|protocol|reference|document|criteria)\s*(?:number|no\.?|#|"
        r"id)\s*:?[ \t]*([A-Za-z0-9][\w.\-/]*(?:[ ][A-Z][ ][\w.\-]+)?)",
        text,
        re.I,
    )
    if m:
        return m.group(1).strip()
    # "Wegovy PA Policy 4774-A": a policy named with its number, which has a digit in it.
    m = re.search(r"\bpolicy\s+(\d[\w.\-]*[A-Za-z0-9])\b", text, re.I)
    return m.group(1) if m else None


_TITLE_FURNITURE = re.compile(
    r"^(?:skip to (?:main )?content|primary navigation|the policy vault.*|asset publisher|"
    r"print.*|hn logo|size: px|start display at page:?|transcription|subject:?|\d+\)?)$",
    re.I,
)


def title_of(lines: list[Line]) -> str:
    """The document's title: its first line that is not a page's furniture."""
    for line in lines[:10]:
        text = re.sub(r"^\s*subject\s*:\s*", "", line.text.strip(), flags=re.I)
        if text and not _TITLE_FURNITURE.fullmatch(text):
            return text
    return ""


def derived_number(name: str) -> str:
    """A number for a document that states none: the drug's name, lower-case (the title of a
    page is often the site's or the program's, shared by many policies)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "policy"


def history(lines: list[Line]) -> list[dict[str, str]]:
    out = []
    for line in lines:
        text = line.text.strip().strip("|").strip()
        date = parse_any_date(text[:30])
        if date is None:
            continue
        rest = re.sub(
            rf"^.*?(?:{_DATE_WORDS}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{4}}-\d\d-\d\d"
            rf"|{_DATE_WORDS}\s+\d{{4}}|\d{{1,2}}/\d{{4}})\s*[:|\-\u2013]?\s*",
            "",
            text,
            count=1,
            flags=re.I,
        )
        out.append({"date": f"{date.year}-{date.month:02d}", "action": rest.strip(" |") or text})
    return out


# --- FEP's layout --------------------------------------------------------------------------


def fep_metadata(
    doc: Document, sections: dict[str, Section], kb: Knowledge, warnings: list[str]
) -> dict[str, Any]:
    h = doc.header
    src = doc.source
    full = "\n".join(line.text for line in doc.lines)
    number = h.get("number") or (re.search(r"\b(\d+\.\d+\.\d+)\b", full) or [None, None])[1]
    if not number:
        raise DocumentError(src, "no policy number (such as 5.21.177) in the document")
    title = h.get("subject") or ""
    brand, generic = _fep_drug_names(sections, title)
    if not title:
        title = brand
    effective = parse_date(h.get("effective_date", ""))
    committee = re.search(
        rf"approved by the (.+?) on ({_DATE}) and is effective on ({_DATE})", full, re.S
    )
    if effective is None and committee:
        effective = parse_date(committee.group(3))
    # Not stated: None, as in any layout (read.py warns first and the file says null).
    last = re.search(rf"Last Review Date:\s*({_DATE})", full)
    original = parse_date(h.get("original_policy_date", ""))
    policy_sec = sections.get("policy")
    statements = [line.text.strip() for line in (policy_sec.content if policy_sec else [])]
    applies = next((s for s in statements if "applies to" in s.lower()), "")
    applies_to = [
        k
        for k, w in (("pre_service", "pre-service"), ("post_service", "post-service"))
        if w in applies.lower()
    ]
    if not applies_to:
        warnings.append("no applicability statement (pre-service / post-service) found")
    necessary = next((s for s in statements if "medically necessary" in s.lower()), "")
    investigational = next((s for s in statements if "investigational" in s.lower()), "")
    related = sections.get("related policies") or sections.get("related policy")
    related_names = [
        n.strip()
        for line in (related.content if related else [])
        for n in line.text.split(",")
        if n.strip()
    ]
    refs = sections.get("references")
    references = [
        re.sub(r"^\d+[.)]\s*", "", line.text.strip()) for line in (refs.content if refs else [])
    ]
    history = _fep_history(sections.get("policy history"))
    pre = sections.get("pre-pa allowance")
    pre_text = " ".join(line.text.strip() for line in (pre.content if pre else [])) or "None"
    if pre is None:
        warnings.append("no 'Pre-PA Allowance' section: recorded as none")
    strengths = sorted(
        {float(s) for s in kb.strengths.get(kb.drug_aliases.get(norm(generic), ""), [])}
    )
    return {
        "number": number,
        "title": title,
        "section": h.get("section", "Prescription Drugs"),
        "subsection": h.get("subsection", ""),
        "drug": {"brand": brand, "generic": generic, "strengths_mg": strengths, "form": "tablet"},
        "effective_date": _iso(effective),
        "original_policy_date": _iso(original or effective),
        "last_review_date": _iso(parse_date(last.group(1)) if last else effective),
        "committee_approval_date": (
            parse_date(committee.group(2)).isoformat() if committee else None  # type: ignore[union-attr]
        ),
        "applies_to": applies_to or ["pre_service"],
        "applicability_text": applies.strip("*").strip(),
        "medically_necessary_text": necessary,
        "investigational_text": investigational,
        "pre_pa_allowance": None if re.fullmatch(r"none\.?", pre_text.strip(), re.I) else pre_text,
        "pre_pa_allowance_text": pre_text,
        "related_policies": related_names,
        "references": references,
        "history": history,
    }


def _fep_drug_names(sections: dict[str, Section], title: str) -> tuple[str, str]:
    pattern = re.compile(r"^([A-Z][\w-]*(?:\s[A-Z][\w-]*)?)\s*\(([a-z][\w\s/-]*)\)")
    for key in ("description", "front", "background", "summary"):
        sec = sections.get(key)
        if sec is None:
            continue
        for line in sec.content:
            m = pattern.match(line.text.strip())
            if m and (not title or m.group(1).lower() == title.lower()):
                return m.group(1), m.group(2).strip()
    return title, title.lower()


def _fep_history(section: Section | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if section is None:
        return out
    for line in section.content:
        text = line.text.strip().strip("|").strip()
        cells = [c.strip() for c in re.split(r"\t+|\s*\|\s*|\s{2,}", text) if c.strip()]
        if not cells:
            continue
        m = re.match(r"^([A-Za-z]+)\s+(\d{4})\b\s*(.*)$", cells[0])
        if not m or m.group(1).lower() not in _FEP_MONTHS:
            continue
        action = " ".join([m.group(3), *cells[1:]]).strip()
        month = _FEP_MONTHS[m.group(1).lower()]
        out.append({"date": f"{m.group(2)}-{month:02d}", "action": action})
    return out


# --- other plans' layouts -----------------------------------------------------------------

_META = re.compile(
    r"^\s*(?:effective(?: date)?|version date|last review(?:ed)?(?: date)?|(?:guideline|program|"
    r"policy|protocol|reference|document) (?:number|no\.?|#|id)|p\s*&\s*t approval dates?|"
    r"original (?:policy )?date|program|medication)\s*:",
    re.I,
)


def is_metadata_line(text: str, kb: Knowledge) -> bool:
    """A line the metadata was read from (a date, a number, the drug's names)."""
    return bool(_META.match(text)) or named_pair(text, kb)


def layout_metadata(
    doc: Document, lines: list[Line], blocks: Blocks, kb: Knowledge, warnings: list[str]
) -> dict[str, Any]:
    h = doc.header
    full = "\n".join(line.text for line in lines)
    first, every = chosen_drug(lines, kb)
    title = title_of(lines)
    if first is None:
        # The title's words before a publisher's name and without a dosage form ("Testosterone
        # transdermal solution - Medical Mutual" is testosterone).
        name = clean_name(re.split(r"\s+[\u2013\u2014-]\s+", title)[0]) or doc.source
        brand = re.sub(r"[^\w /-]", "", name).strip()[:60] or "Unknown"
        generic = brand.lower()
        warnings.append(
            f"no drug named as 'Brand (generic)' or by a name the tables know: the title's "
            f"{brand!r} stands for the drug"
        )
    else:
        brand, generic = first.brand, first.generic
        brand = brand[:1].upper() + brand[1:]
        if first.role == "class":
            warnings.append(
                f"a page for a class of drugs that names none of them: {brand!r} stands for "
                "the drug; import it for each drug of the class the plan covers"
            )
    if len(every) > 1:
        named = ", ".join(n.said() for n in every)
        warnings.append(
            f"a document for several drugs: {named}; imported for {brand} only (one policy per "
            "drug needs the criteria told apart per drug): import it again for each of the "
            "others"
        )
    number = number_of(full) or h.get("number")
    if not number:
        number = derived_number(brand)
        warnings.append(
            f"no policy number in the document: {number!r} was derived from the drug's name"
        )
    effective, how = dates.effective_date([line.text for line in lines])
    if effective is None and h.get("effective_date"):
        effective = dates.parse_date(h["effective_date"], labelled=True)
    # Not stated: None, never the import day (read.py warns first and the file says null).
    if effective is not None and how:
        warnings.insert(
            0, f"effective date {effective}: {how}; confirm it, or set it with --effective-date"
        )
    day = _iso(effective)
    statements = [line.text.strip() for line in lines]
    necessary = next((s for s in statements if "medically necessary" in s.lower()), "")
    investigational = next(
        (
            s
            for s in statements
            if re.search(
                r"investigational|not (?:medically necessary|"
                r"covered|authorized)",
                s,
                re.I,
            )
        ),
        "",
    )
    refs = [
        re.sub(r"^\d+[.)]\s*", "", line.text.strip())
        for key, ls in blocks.sections.items()
        if key.startswith("reference")
        for line in ls
    ]
    hist = [
        e
        for key, ls in blocks.sections.items()
        if re.search(r"history|revisions|approval date", key)
        for e in history(ls)
    ]
    generic_key = kb.drug_aliases.get(norm(generic), "")
    form = (
        "capsule"
        if re.search(r"\bcapsules?\b", full, re.I) and not re.search(r"\btablets?\b", full, re.I)
        else "tablet"
    )
    return {
        "number": number,
        "title": brand,
        "section": h.get("section", "Prescription Drugs"),
        "subsection": h.get("subsection", ""),
        "drug": {
            "brand": brand,
            "generic": generic,
            "strengths_mg": sorted({float(s) for s in kb.strengths.get(generic_key, [])}),
            "form": form,
        },
        "effective_date": day,
        "original_policy_date": day,
        "last_review_date": day,
        "committee_approval_date": None,
        "applies_to": ["pre_service"],
        "applicability_text": "",
        "medically_necessary_text": necessary,
        "investigational_text": investigational,
        "pre_pa_allowance": None,
        "pre_pa_allowance_text": "None stated",
        "related_policies": [],
        "references": refs,
        "history": hist,
    }


def with_effective_date(result: ImportResult, day: dt.date) -> ImportResult:
    """The import with the effective date a person gave (``--effective-date``): it replaces the
    date read, or stands where none was found."""
    p = result.policy
    update: dict[str, Any] = {"effective_date": day}
    for key in ("original_policy_date", "last_review_date"):
        if getattr(p, key) == p.effective_date:
            update[key] = day  # they were only the date read standing in for themselves
    warnings = [w for w in result.warnings if not w.startswith("effective date")]
    note = f"effective date {day} given on import (--effective-date)"
    if result.effective_date not in (None, day):
        note += f"; the document says {result.effective_date}"
    return replace(
        result,
        policy=p.model_copy(update=update),
        warnings=warnings,
        notes=[*result.notes, note],
        undated=False,
    )


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
