"""Lumakras (FEP 5.21.177) hand-written as tightly as we can: the bar ``make bench`` holds the
engine to.

What a careful programmer would write for this one policy, for speed, on a request validated by
the engine's fast validator (``priorauth.request.read_dict`` / ``read_json``: msgspec Structs,
lists as tuples, dates as dates), since any real rule must validate its input first: three-valued
logic inlined with each group stopping at its first settling criterion, tables keyed by the
spellings seen (a lower-casing only on a miss), plain ``date`` arithmetic, nothing built but the
answer. It returns (decision, denial basis, authorization) with the authorization as (start,
end, max daily mg); it knows only the vocabulary the workload uses. A benchmark baseline, not
product code: no explanation, no other policy.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

ONE_DAY = timedelta(days=1)
MAX_DAILY_MG = 960
NSCLC_HIST = frozenset(
    {"adenocarcinoma", "squamous_cell", "large_cell", "non_small_cell", "nsclc", "adeno"}
)
NSCLC_EXTENT = frozenset({"locally_advanced", "metastatic"})
CRC_FAMILIES = frozenset({"C18", "C19", "C20"})
SPREAD = {"C77": "locally_advanced", "C78": "metastatic", "C79": "metastatic"}
G12C = frozenset({"G12C", "p.G12C", "g12c", "p.Gly12Cys", "KRAS G12C"})
# test -> (approved for NSCLC, approved for CRC)
TESTS = {
    "therascreen KRAS RGQ PCR Kit": (True, True),
    "therascreen kras rgq pcr kit": (True, True),
    "Guardant360 CDx": (True, False),
    "guardant360 cdx": (True, False),
}
FP, OX, IRI = 1, 2, 4
# drug as written -> (systemic anticancer, fluoropyrimidine/oxaliplatin/irinotecan bits)
DRUGS: dict[str, tuple[bool, int]] = {
    "fluorouracil": (True, FP),
    "5-fu": (True, FP),
    "capecitabine": (True, FP),
    "leucovorin": (False, 0),
    "oxaliplatin": (True, OX),
    "irinotecan": (True, IRI),
    "folfox": (True, FP | OX),
    "capox": (True, FP | OX),
    "xelox": (True, FP | OX),
    "folfiri": (True, FP | IRI),
    "capiri": (True, FP | IRI),
    "xeliri": (True, FP | IRI),
    "folfoxiri": (True, FP | OX | IRI),
    "carboplatin": (True, 0),
    "cisplatin": (True, 0),
    "pemetrexed": (True, 0),
    "docetaxel": (True, 0),
    "gemcitabine": (True, 0),
    "paclitaxel": (True, 0),
    "pembrolizumab": (True, 0),
    "nivolumab": (True, 0),
    "atezolizumab": (True, 0),
    "durvalumab": (True, 0),
    "bevacizumab": (True, 0),
    "cetuximab": (True, 0),
    "panitumumab": (True, 0),
    "vectibix": (True, 0),
    "trifluridine/tipiracil": (True, 0),
    "hemicolectomy": (False, 0),
    "colectomy": (False, 0),
    "lobectomy": (False, 0),
    "radiation therapy": (False, 0),
    "sbrt": (False, 0),
    "ondansetron": (False, 0),
    "dexamethasone": (False, 0),
    "filgrastim": (False, 0),
}
for _name, _v in list(DRUGS.items()):
    DRUGS[_name.upper()] = DRUGS[_name.capitalize()] = _v
PANITUMUMAB = frozenset({"panitumumab", "Vectibix", "vectibix", "Panitumumab"})
OWN = frozenset({"sotorasib", "Lumakras", "lumakras"})


def _drug(name: str) -> tuple[bool, int] | None:
    got = DRUGS.get(name)
    return got if got is not None else DRUGS.get(name.lower())


def _dx(dxs: Sequence[Any] | None, nsclc: bool) -> bool | None:
    """NSCLC locally advanced or metastatic, or metastatic CRC."""
    if dxs is None:
        return None
    unknown = False
    spread = 0  # 0: not looked at yet; then the extent the codes say, or None
    for d in dxs:
        fam = d.code[:3]
        if nsclc:
            if fam != "C34" and fam.upper() != "C34":
                continue
            h = d.histology
            s: bool | None = True
            if not h:
                s = None
            elif h not in NSCLC_HIST and h.lower().replace(" ", "_") not in NSCLC_HIST:
                continue
        else:
            if fam not in CRC_FAMILIES and fam.upper() not in CRC_FAMILIES:
                continue
            s = True
        ext = d.extent
        if ext is None:
            if spread == 0:
                spread = None
                for o in dxs:
                    e = SPREAD.get(o.code[:3].upper())
                    if e == "metastatic" or (e and spread is None):
                        spread = e
            ext = spread
        if ext is None:
            s = None
        elif ext not in (NSCLC_EXTENT if nsclc else ("metastatic",)):
            continue
        if s:
            return True
        unknown = True
    return None if unknown else False


def _kras(markers: Sequence[Any] | None, nsclc: bool) -> bool | None:
    if markers is None:
        return None
    unknown = False
    for m in markers:
        if m.gene != "KRAS":
            continue
        alt = m.alteration
        if alt is None:
            if m.result == "negative":
                continue
            unknown = True
            continue
        if alt not in G12C or m.result != "positive":
            continue
        approved = TESTS.get(m.test or "")
        ok = (approved[0] if nsclc else approved[1]) if approved else m.fda_approved
        if ok:
            return True
        if ok is None:
            unknown = True
    return None if unknown else False


def _prior_systemic(therapies: Sequence[Any] | None) -> bool | None:
    if therapies is None:
        return None
    unknown = False
    for t in therapies:
        d = _drug(t.drug)
        if d is None:
            unknown = True
        elif d[0]:
            return True
    return None if unknown else False


def _prior_crc_chemo(therapies: Sequence[Any] | None) -> bool | None:
    if therapies is None:
        return None
    bits = 0
    unknown = False
    for t in therapies:
        d = _drug(t.drug)
        if d is None:
            unknown = True
        else:
            bits |= d[1]
    if bits == FP | OX | IRI:
        return True
    return None if unknown else False


def _single_agent(therapies: Sequence[Any] | None) -> bool | None:
    if therapies is None:
        return None
    unknown = False
    for t in therapies:
        name = t.drug
        if name in OWN:
            continue
        d = _drug(name)
        if d is None:
            unknown = True
        elif d[0]:
            return False
    return None if unknown else True


def _with_panitumumab(therapies: Sequence[Any] | None) -> bool | None:
    if therapies is None:
        return None
    unknown = False
    for t in therapies:
        name = t.drug
        if name in PANITUMUMAB:
            return True
        if _drug(name) is None and name not in OWN:
            unknown = True
    return None if unknown else False


def _nsclc(req: Any) -> bool | None:
    s = _dx(req.diagnoses, True)
    if s is False:
        return False
    u = s is None
    s = _kras(req.biomarkers, True)
    if s is False:
        return False
    u = u or s is None
    s = _prior_systemic(req.prior_therapies)
    if s is False:
        return False
    u = u or s is None
    s = _single_agent(req.concurrent_therapies)
    if s is False:
        return False
    return None if u or s is None else True


def _crc(req: Any) -> bool | None:
    s = _dx(req.diagnoses, False)
    if s is False:
        return False
    u = s is None
    s = _kras(req.biomarkers, False)
    if s is False:
        return False
    u = u or s is None
    s = _prior_crc_chemo(req.prior_therapies)
    if s is False:
        return False
    u = u or s is None
    s = _with_panitumumab(req.concurrent_therapies)
    if s is False:
        return False
    return None if u or s is None else True


def decide(req: Any) -> tuple[str, str | None, tuple[date, date, int] | None]:
    dos = req.date_of_service
    b = req.member.birth_date
    age = dos.year - b.year - ((dos.month, dos.day) < (b.month, b.day))
    if b.month == 2 and b.day == 29 and dos.month == 2 and dos.day == 28 and not isleap(dos.year):
        age += 1
    unknown = False
    outcome: bool | None = True
    if age < 18:
        outcome = False
    else:
        renewal = req.kind == "renewal"
        if renewal:
            dxs = req.diagnoses
            s = _dx(dxs, True)
            if s is not True:
                s2 = _dx(dxs, False)
                s = True if s2 is True else (None if s is None or s2 is None else False)
        else:
            s = _nsclc(req)
            if s is not True:
                s2 = _crc(req)
                s = True if s2 is True else (None if s is None or s2 is None else False)
        if s is False:
            outcome = False
        else:
            unknown = s is None
            if renewal:
                ds = req.disease_status
                if ds is None:
                    unknown = True
                else:
                    p, t = ds.progression, ds.unacceptable_toxicity
                    if p or t:
                        outcome = False
                    elif p is None or t is None:
                        unknown = True
            if outcome is not False:
                att = req.attestations
                a = None if att is None else att.get("liver_function_monitoring")
                if a is False:
                    outcome = False
                elif a is None or unknown:
                    outcome = None
    if outcome is None:
        return ("pended", None, None)
    if outcome is False:
        dxs = req.diagnoses
        if _dx(dxs, True) is False and _dx(dxs, False) is False:
            return ("denied", "investigational", None)
        return ("denied", "criteria_not_met", None)
    med = req.medication
    daily = med.strength_mg * med.quantity / med.days_supply
    try:
        end = date(dos.year + 1, dos.month, dos.day) - ONE_DAY
    except ValueError:  # from February 29: the period ends on February 28
        end = date(dos.year + 1, 2, 28)
    decision = "partially_approved" if daily > MAX_DAILY_MG + 1e-9 else "approved"
    return (decision, None, (dos, end, MAX_DAILY_MG))
