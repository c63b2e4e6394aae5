"""Lumakras (FEP 5.21.177) written by hand over request dicts: the speed baseline.

This is how a team without an engine would code the policy: one function per criterion,
three-valued (True / False / None = unknown) with Kleene AND / OR, no trace.  It decides every
branch the engine decides, so the comparison is fair; it is a benchmark baseline, not product code.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

T = bool | None

MAX_DAILY_MG = 960
NSCLC_HISTOLOGIES = {"adenocarcinoma", "squamous_cell", "large_cell", "non_small_cell"}
CRC_PREFIXES = ("C18", "C19", "C20")
SECONDARY_PREFIXES = ("C78", "C79")
G12C = {"g12c", "p.g12c", "p.gly12cys"}
POSITIVE = {"positive", "detected"}
# FDA-approved KRAS G12C tests and the indications they are approved for
APPROVED_TESTS = {
    "therascreen kras rgq pcr kit": {"nsclc", "crc"},
    "guardant360 cdx": {"nsclc"},
}
FP, OX, IRI = "fluoropyrimidine", "oxaliplatin", "irinotecan"
DRUG_CLASSES: dict[str, set[str]] = {
    "fluorouracil": {FP},
    "5-fu": {FP},
    "capecitabine": {FP},
    "leucovorin": set(),
    "oxaliplatin": {OX},
    "irinotecan": {IRI},
    "folfox": {FP, OX},
    "capox": {FP, OX},
    "xelox": {FP, OX},
    "folfiri": {FP, IRI},
    "capiri": {FP, IRI},
    "xeliri": {FP, IRI},
    "folfoxiri": {FP, OX, IRI},
    "carboplatin": set(),
    "cisplatin": set(),
    "pemetrexed": set(),
    "docetaxel": set(),
    "gemcitabine": set(),
    "paclitaxel": set(),
    "pembrolizumab": set(),
    "nivolumab": set(),
    "atezolizumab": set(),
    "durvalumab": set(),
    "bevacizumab": set(),
    "cetuximab": set(),
    "panitumumab": set(),
    "vectibix": set(),
    "trifluridine/tipiracil": set(),
}
NOT_SYSTEMIC = {"leucovorin"}  # known, but not anticancer therapy by itself
PANITUMUMAB = {"panitumumab", "vectibix"}


def AND(*xs: T) -> T:
    if any(x is False for x in xs):
        return False
    return None if any(x is None for x in xs) else True


def OR(*xs: T) -> T:
    if any(x is True for x in xs):
        return True
    return None if any(x is None for x in xs) else False


def NOT(x: T) -> T:
    return None if x is None else not x


# --- criteria -------------------------------------------------------------------------------


def adult(req: dict[str, Any]) -> T:
    birth = req.get("member", {}).get("birth_date")
    if birth is None:
        return None
    # completed calendar years; someone born on 29 February turns a year older on 1 March
    on, born = date.fromisoformat(req["date_of_service"]), date.fromisoformat(birth)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day)) >= 18


def _extent(req: dict[str, Any], dx: dict[str, Any], allowed: set[str]) -> T:
    extent = dx.get("extent")
    if extent is not None:
        return extent in allowed
    if any(d.get("code", "").upper().startswith(SECONDARY_PREFIXES) for d in req["diagnoses"]):
        return "metastatic" in allowed
    return None


def nsclc(req: dict[str, Any]) -> T:
    """Locally advanced or metastatic NSCLC: C34 code, NSCLC histology, extent."""
    if "diagnoses" not in req:
        return None
    results: list[T] = []
    for dx in req["diagnoses"]:
        if not dx.get("code", "").upper().startswith("C34"):
            continue
        histology = dx.get("histology")
        hist: T = None if histology is None else histology.lower() in NSCLC_HISTOLOGIES
        results.append(AND(hist, _extent(req, dx, {"locally_advanced", "metastatic"})))
    return OR(*results)


def mcrc(req: dict[str, Any]) -> T:
    if "diagnoses" not in req:
        return None
    return OR(
        *(
            _extent(req, dx, {"metastatic"})
            for dx in req["diagnoses"]
            if dx.get("code", "").upper().startswith(CRC_PREFIXES)
        )
    )


def kras_g12c(req: dict[str, Any], indication: str) -> T:
    """KRAS G12C positive by a test FDA-approved for the indication."""
    markers = req.get("biomarkers")
    if markers is None:
        return None
    results: list[T] = []
    for m in markers:
        if m.get("gene", "").upper() != "KRAS" or m.get("alteration", "").lower() not in G12C:
            continue
        result = m.get("result")
        positive: T = None if result is None else result.lower() in POSITIVE
        test = (m.get("test") or "").lower()
        approved: T
        if test in APPROVED_TESTS:
            approved = indication in APPROVED_TESTS[test]
        else:
            approved = m.get("fda_approved")
        results.append(AND(positive, approved))
    return OR(*results)


def _drug_classes(req: dict[str, Any], key: str) -> list[set[str] | None] | None:
    therapies = req.get(key)
    if therapies is None:
        return None
    return [DRUG_CLASSES.get(t.get("drug", "").lower()) for t in therapies]


def prior_systemic_therapy(req: dict[str, Any]) -> T:
    therapies = req.get("prior_therapies")
    if therapies is None:
        return None
    drugs = [t.get("drug", "").lower() for t in therapies]
    if any(d in DRUG_CLASSES and d not in NOT_SYSTEMIC for d in drugs):
        return True
    return None if any(d not in DRUG_CLASSES for d in drugs) else False


def prior_crc_chemo(req: dict[str, Any]) -> T:
    """Prior fluoropyrimidine-, oxaliplatin- and irinotecan-based chemotherapy."""
    classes = _drug_classes(req, "prior_therapies")
    if classes is None:
        return None
    covered = set().union(*(c for c in classes if c is not None))
    unknown_drug = any(c is None for c in classes)
    return AND(
        *(True if k in covered else (None if unknown_drug else False) for k in (FP, OX, IRI))
    )


def single_agent(req: dict[str, Any]) -> T:
    therapies = req.get("concurrent_therapies")
    return None if therapies is None else not therapies


def with_panitumumab(req: dict[str, Any]) -> T:
    therapies = req.get("concurrent_therapies")
    if therapies is None:
        return None
    return any(t.get("drug", "").lower() in PANITUMUMAB for t in therapies)


def liver_monitoring(req: dict[str, Any]) -> T:
    return (req.get("attestations") or {}).get("liver_function_monitoring")


def no_progression_or_toxicity(req: dict[str, Any]) -> T:
    status = req.get("disease_status")
    if status is None:
        return None
    return NOT(OR(status.get("progression"), status.get("unacceptable_toxicity")))


# --- decision -------------------------------------------------------------------------------


def decide(req: dict[str, Any]) -> dict[str, Any]:
    """Decision, denial basis, authorization, and the open questions (by the policy's ids)."""
    dx_nsclc, dx_crc = nsclc(req), mcrc(req)
    branches: dict[str, dict[str, T]]
    if req["kind"] == "renewal":
        branches = {
            "renewal.nsclc": {"renewal.nsclc": dx_nsclc},
            "renewal.mcrc": {"renewal.mcrc": dx_crc},
        }
        rest = {
            "renewal.age": adult(req),
            "renewal.no_progression": no_progression_or_toxicity(req),
            "renewal.liver_function_monitoring": liver_monitoring(req),
        }
    else:
        branches = {
            "initial.nsclc": {
                "initial.nsclc.diagnosis": dx_nsclc,
                "initial.nsclc.kras_g12c": kras_g12c(req, "nsclc"),
                "initial.nsclc.prior_systemic_therapy": prior_systemic_therapy(req),
                "initial.nsclc.single_agent": single_agent(req),
            },
            "initial.mcrc": {
                "initial.mcrc.diagnosis": dx_crc,
                "initial.mcrc.kras_g12c": kras_g12c(req, "crc"),
                "initial.mcrc.prior_chemotherapy": prior_crc_chemo(req),
                "initial.mcrc.with_panitumumab": with_panitumumab(req),
            },
        }
        rest = {
            "initial.age": adult(req),
            "initial.liver_function_monitoring": liver_monitoring(req),
        }
    branch_ok = {name: AND(*b.values()) for name, b in branches.items()}
    outcome = AND(OR(*branch_ok.values()), *rest.values())

    if outcome is False:
        basis = "investigational" if OR(dx_nsclc, dx_crc) is False else "criteria_not_met"
        return {"decision": "denied", "denial_basis": basis, "authorization": None, "missing": []}
    if outcome is None:
        # only questions on branches that are still open can change the outcome
        missing = [
            k
            for name, b in branches.items()
            if branch_ok[name] is None
            for k, v in b.items()
            if v is None
        ]
        missing += [k for k, v in rest.items() if v is None]
        return {
            "decision": "pended",
            "denial_basis": None,
            "authorization": None,
            "missing": missing,
        }

    med = req["medication"]
    daily = med["strength_mg"] * med["quantity"] / med["days_supply"]
    start = date.fromisoformat(req["date_of_service"])
    end = start + relativedelta(months=12) - timedelta(days=1)
    return {
        "decision": "partially_approved" if daily > MAX_DAILY_MG else "approved",
        "denial_basis": None,
        "authorization": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "max_daily_dose_mg": MAX_DAILY_MG,
        },
        "missing": [],
    }
