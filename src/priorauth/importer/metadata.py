"""What a document says about itself: its title, policy number, the drug's brand and generic
names, its dates (every date form a parser here reads) and its history; for FEP's layout and for
the layouts of other plans."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from priorauth.errors import DocumentError
from priorauth.importer.document import Document, Line
from priorauth.importer.layouts import Blocks
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
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}


def parse_date(text: str) -> dt.date | None:
    m = re.search(_DATE, text)
    if not m:
        return None
    return dt.datetime.strptime(re.sub(r"\s+", " ", m.group(0)), "%B %d, %Y").date()


def parse_any_date(text: str) -> dt.date | None:
    m = re.search(rf"\b({_DATE_WORDS})\s+(\d{{1,2}}),?\s+(\d{{4}})\b", text, re.I)
    if m:
        return _safe(int(m.group(3)), _MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)))
    m = re.search(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b", text)
    if m:
        return _safe(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text)
    if m:
        return _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.search(rf"\b({_DATE_WORDS})\s+(\d{{4}})\b", text, re.I)
    if m:
        return _safe(int(m.group(2)), _MONTHS[m.group(1).lower().rstrip(".")], 1)
    m = re.search(r"\b(\d{1,2})/(\d{4})\b", text)
    if m:
        return _safe(int(m.group(2)), int(m.group(1)), 1)
    return None


def _safe(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def drug_names(lines: list[Line], kb: Knowledge) -> tuple[str, str] | None:
    """(brand, generic) from "Brand (generic)" or "Generic (Brand)" near the top."""
    pair = re.compile(r"\b([A-Za-z][\w-]*(?:\s[A-Za-z][\w-]*){0,2})\s*\(([A-Za-z][\w\s/-]*?)\)")
    for line in lines[:40]:
        for m in pair.finditer(line.text):
            a, b = m.group(1).strip(), m.group(2).strip()
            b = re.sub(r"-[a-z]{4}$", "", b)  # a biologic's suffix: risankizumab-rzaa
            # the last words before the parenthesis ("Clinical Policy: Sotorasib (Lumakras)")
            for n in range(len(a.split()), 0, -1):
                cand = " ".join(a.split()[-n:])
                ga, gb = kb.drug_aliases.get(norm(cand)), kb.drug_aliases.get(norm(b))
                if ga and ga == gb:
                    if norm(cand) == ga:
                        return b, cand.lower()
                    return cand, b.lower()
    for line in lines[:40]:
        for m in pair.finditer(line.text):
            a, b = m.group(1).strip().split()[-1], m.group(2).strip()
            if a[:1].isupper() and b[:1].islower() and len(b) > 3:
                return a, b
    return None


def number_of(text: str) -> str | None:
    m = re.search(
        r"\b(?:guideline|program|policy|protocol|reference|document|criteria)\s*(?:number|no\.?|#|"
        r"id)\s*:?[ \t]*([A-Za-z0-9][\w.\-/]*(?:[ ][A-Z][ ][\w.\-]+)?)",
        text,
        re.I,
    )
    return m.group(1).strip() if m else None


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
    if effective is None:
        raise DocumentError(src, "no effective date in the document")
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
        "effective_date": effective.isoformat(),
        "original_policy_date": (original or effective).isoformat(),
        "last_review_date": (parse_date(last.group(1)) if last else effective).isoformat(),  # type: ignore[union-attr]
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
    return bool(_META.match(text)) or drug_names([Line(text, 1, 1)], kb) is not None


def layout_metadata(
    doc: Document, lines: list[Line], blocks: Blocks, kb: Knowledge, warnings: list[str]
) -> dict[str, Any]:
    h = doc.header
    full = "\n".join(line.text for line in lines)
    names = drug_names(lines, kb)
    if names is None:
        title = next((line.text.strip() for line in lines if line.text.strip()), doc.source)
        brand = re.sub(r"[^\w -]", "", title).strip()[:60] or "Unknown"
        generic = brand.lower()
        warnings.append("no 'Brand (generic)' drug name found: the title stands for the drug")
    else:
        brand, generic = names
        brand = brand[:1].upper() + brand[1:]
    number = number_of(full) or h.get("number")
    if not number:
        number = re.sub(r"[^a-z0-9_]+", "_", brand.lower()).strip("_") or "criterion"
        warnings.append(f"no policy number found: recorded as {number!r}")
    effective = None
    for source in (
        h.get("effective_date", ""),
        *(m.group(1) for m in re.finditer(r"effective(?: date)?\s*:?\s*([^\n]{0,40})", full, re.I)),
        *(m.group(1) for m in re.finditer(r"version date\s*:?\s*([^\n]{0,30})", full, re.I)),
    ):
        effective = parse_any_date(source)
        if effective:
            break
    if effective is None:
        effective = parse_any_date(full)
        if effective is None:
            effective = dt.date.today()
            warnings.append(f"no effective date found: recorded as today ({effective})")
        else:
            warnings.append(
                f"no effective date found: the first date in the document ({effective})"
            )
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
        "effective_date": effective.isoformat(),
        "original_policy_date": effective.isoformat(),
        "last_review_date": effective.isoformat(),
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
