"""The importer on a folder of real plans' documents, one row per document, so a person spots a
misread at a glance: imported (or why it was refused), which requirement sections were read,
criteria, typed, ambiguous groups, unplaced lines, and the drug and effective date read.

A document may have ``NAME.requests.yaml`` beside it: a careful reader's own reading of the
document (``reading``: brand, generic, effective date, policy number, initial and renewal
durations in months; null where the document does not say) and on-label requests such a reader
would approve or pend but never deny (``requests``: each ``{name, request}`` in the request
contract). The row then says how many of those requests the imported policy denied, and whether
the drug, date, number and durations read match the reading.

    python -m priorauth.importer.measure_real DIR [--line-of-business LOB]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from priorauth.engine.engine import Engine
from priorauth.errors import DocumentError, PriorAuthError
from priorauth.importer import import_document
from priorauth.importer.result import ImportResult
from priorauth.policy.model import Policy
from priorauth.policy.tables import norm

SUFFIXES = (".txt", ".md", ".pdf")


@dataclass
class Row:
    name: str
    status: str = "imported"  # or "refused: why", or "crashed: why" (an importer bug)
    sections: str = ""
    criteria: int = 0
    typed: int = 0
    ambiguous: int = 0
    unplaced: int = 0
    drug: str = ""
    effective: str = ""
    requests: int = 0
    denied: list[str] = field(default_factory=list)
    request_errors: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)  # drug, date, number, durations
    misreads: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    area: str | None = None  # from MANIFEST.tsv beside the documents, when there is one

    @property
    def imported(self) -> bool:
        return self.status == "imported"


def documents(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def _requests_file(doc: Path) -> Path:
    return doc.with_name(doc.stem + ".requests.yaml")


def _ambiguous(policy: Policy) -> int:
    """Groups whose AND/OR the document does not show. The model may not have such a shape yet
    (it comes with the reader's work); then there are none to count."""
    count = 0
    for root in (policy.requirements.initial, policy.requirements.renewal):
        for node in root.walk():
            count += getattr(node, "ambiguous", None) is not None
    return count


def _sections(result: ImportResult) -> str:
    """The requirement blocks the import read criteria from, by the criteria's ids."""
    kinds = [k for k in ("initial", "renewal") if any(c.id.startswith(k) for c in result.criteria)]
    return "+".join(kinds) or "none"


def _same_name(read: str, mine: str) -> bool:
    def key(s: str) -> str:
        return norm(re.sub(r"-[a-z]{4}\b", "", s.lower()))

    return key(read) == key(mine)


def _check(row: Row, result: ImportResult, reading: dict[str, Any]) -> None:
    p = result.policy
    warned = " ".join(result.warnings).lower()
    brand, generic = reading.get("brand"), reading.get("generic")
    ok = (brand is None or _same_name(p.drug.brand, brand)) and (
        generic is None or _same_name(p.drug.generic, generic)
    )
    # A class document: every drug it names is reported, not only the one imported.
    unnamed = [
        d
        for d in reading.get("drugs") or []
        if d.split()[0].lower() not in warned + " " + norm(p.drug.brand)
    ]
    if unnamed:
        ok = False
        row.misreads.append(f"drugs the document names but the import did not report: {unnamed}")
    row.checks["drug"] = ok
    if not ok:
        row.misreads.append(
            f"drug read {p.drug.brand} ({p.drug.generic}), expected {brand or '-'} "
            f"({generic or '-'})"
        )
    want = reading.get("effective_date")
    if want is None:
        # Not stated: the import must say so first, never take another date or the import day
        # silently.
        ok = (
            result.effective_date is None
            and bool(result.warnings)
            and "effective date" in result.warnings[0].lower()
        )
    else:
        ok = str(result.effective_date) == str(want)
    row.checks["date"] = ok
    if not ok:
        row.misreads.append(
            f"effective date read {result.effective_date or 'not stated'}, "
            f"expected {want or 'not stated, with a warning first'}"
        )
    want_number = reading.get("number")
    ok = ("policy number" in warned) if want_number is None else p.number == want_number
    row.checks["number"] = ok
    if not ok:
        row.misreads.append(f"number read {p.number!r}, expected {want_number or 'a warning'}")
    durations = reading.get("durations") or {}
    wrong = [
        f"{kind} {getattr(p.limits, kind).duration.months} months, expected {months}"
        for kind in ("initial", "renewal")
        if (months := durations.get(f"{kind}_months")) is not None
        and getattr(p.limits, kind).duration.months != months
    ]
    row.checks["durations"] = not wrong
    row.misreads += [f"duration {w}" for w in wrong]


def _decide(row: Row, policy: Policy, requests: list[dict[str, Any]]) -> None:
    engine = Engine(policies=[policy])
    for item in requests:
        name = str(item.get("name", f"request {len(row.denied) + 1}"))
        request = dict(item["request"])
        try:
            engine.versions(request["medication"]["name"])
        except PriorAuthError:
            # The drug was misread (reported as such): decide the request against the policy
            # anyway, so its criteria are still measured.
            request["medication"] = {**request["medication"], "name": policy.drug.brand}
        row.requests += 1
        try:
            det = engine.evaluate(request)
        except PriorAuthError as exc:
            row.request_errors.append(f"{name}: {exc}")
            continue
        if det.decision == "denied":
            failed = "; ".join(r.text for r in det.reasons if r.status == "not_met")
            row.denied.append(f"{name}: denied ({det.denial_basis}): {failed}")


def measure_document(doc: Path, line_of_business: str | None = None) -> Row:
    row = Row(doc.name)
    try:
        result = import_document(doc, line_of_business=line_of_business)
    except DocumentError as exc:
        row.status = f"refused: {exc}"
        return row
    except Exception as exc:  # one document's crash must not hide the others' rows
        row.status = f"crashed: {type(exc).__name__}: {exc}"
        return row
    if result.unread:
        # What the command line does with it: exit 2 saying why (--allow-unread imports it).
        row.status = f"unread: {result.unread}"
        return row
    p = result.policy
    row.sections = _sections(result)
    row.typed, row.criteria = result.typed_share
    row.ambiguous = _ambiguous(p)
    row.unplaced = len(result.unplaced)
    row.drug = f"{p.drug.brand} ({p.drug.generic})"
    row.effective = str(result.effective_date or "not stated")
    row.warnings = list(result.warnings)
    side = _requests_file(doc)
    if side.exists():
        spec = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
        _check(row, result, spec.get("reading") or {})
        _decide(row, p, spec.get("requests") or [])
    return row


def areas(folder: Path) -> dict[str, str]:
    """file -> area, from the folder's MANIFEST.tsv (a header row naming ``file`` and ``area``
    columns), or nothing when the folder has none."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    rows = [line.split("\t") for line in manifest.read_text(encoding="utf-8").splitlines()]
    if not rows or "file" not in rows[0] or "area" not in rows[0]:
        return {}
    f, a = rows[0].index("file"), rows[0].index("area")
    return {r[f]: r[a].strip() for r in rows[1:] if len(r) > max(f, a)}


def measure(folder: Path, line_of_business: str | None = None) -> list[Row]:
    known = areas(folder)
    rows = [measure_document(d, line_of_business) for d in documents(folder)]
    for row in rows:
        row.area = known.get(row.name)
    return rows


def _share(rows: list[Row]) -> str:
    crit = sum(r.criteria for r in rows if r.imported)
    typed = sum(r.typed for r in rows if r.imported)
    return f"{typed} of {crit} ({100 * typed / crit:.0f} %)" if crit else "-"


def shares(rows: list[Row]) -> str:
    """The typed share of oncology and of the other documents, by the manifest's area; empty
    when no document has an area."""
    if not any(r.area for r in rows):
        return ""
    onc = [r for r in rows if r.area == "oncology"]
    other = [r for r in rows if r.area and r.area != "oncology"]
    return f"typed share: oncology {_share(onc)}, non-oncology {_share(other)}"


def _mark(row: Row, key: str) -> str:
    if key not in row.checks:
        return "-"
    return "ok" if row.checks[key] else "NO"


def table(rows: list[Row]) -> str:
    out = [
        "| document | status | sections | criteria | typed | ambiguous | unplaced | drug read "
        "| effective read | denied | drug | date | number | durations |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|---|---|---|---|",
    ]
    for r in rows:
        status = r.status if r.imported else r.status.split(":")[0]
        denied = f"{len(r.denied)}/{r.requests}" if r.requests else "-"
        out.append(
            f"| {r.name} | {status} | {r.sections} | {r.criteria} | {r.typed} | {r.ambiguous} "
            f"| {r.unplaced} | {r.drug} | {r.effective} | {denied} | {_mark(r, 'drug')} "
            f"| {_mark(r, 'date')} | {_mark(r, 'number')} | {_mark(r, 'durations')} |"
        )
    return "\n".join(out)


def totals(rows: list[Row]) -> str:
    imported = [r for r in rows if r.imported]
    crit = sum(r.criteria for r in imported)
    typed = sum(r.typed for r in imported)
    share = f"{100 * typed / crit:.0f} %" if crit else "-"
    reqs = sum(r.requests for r in imported)
    denied = sum(len(r.denied) for r in imported)
    checked = [r for r in imported if r.checks]

    def right(key: str) -> str:
        return f"{sum(r.checks[key] for r in checked)}/{len(checked)}"

    return (
        f"documents {len(rows)}, imported {len(imported)}, criteria {crit}, typed {typed} "
        f"({share}), ambiguous groups {sum(r.ambiguous for r in imported)}, unplaced lines "
        f"{sum(r.unplaced for r in imported)}; on-label requests denied {denied}/{reqs}; "
        f"read right: drug {right('drug')}, effective date {right('date')}, number "
        f"{right('number')}, durations {right('durations')}"
    )


def details(rows: list[Row]) -> str:
    out = []
    for r in rows:
        lines = [] if r.imported else [r.status]
        lines += r.misreads + r.denied + [f"request error {e}" for e in r.request_errors]
        if lines:
            out.append(f"{r.name}:")
            out += [f"  {line}" for line in lines]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m priorauth.importer.measure_real", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("folder", type=Path, help="a folder of policy documents")
    parser.add_argument("--line-of-business", default=None)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder}: not a folder", file=sys.stderr)
        return 2
    rows = measure(args.folder, args.line_of_business)
    if not rows:
        print(f"error: {args.folder}: no documents (.txt, .md, .pdf) in it", file=sys.stderr)
        return 2
    print(table(rows))
    print()
    print(totals(rows))
    by_area = shares(rows)
    if by_area:
        print(by_area)
    detail = details(rows)
    if detail:
        print()
        print(detail)
    # An on-label request denied is the harm this measure exists to find.
    return 1 if any(r.denied for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
