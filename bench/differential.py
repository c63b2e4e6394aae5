"""The compiled path against the explaining path, on generated requests (``make differential``).

Every request is drawn from a seeded ``random.Random`` over the vocabulary of the built-in
policies and the knowledge tables (drug names, regimens, procedures, supportive care, codes,
histologies, genes, alterations, companion tests, attestation keys, question ids), with unknown
words, absent and empty lists, edge ages and dates, answers, and now and then a field that is
wrong in type or value. Each is decided by ``Engine()`` (the compiled functions, the msgspec
validator) and by ``Engine(compiled=False)`` over ``parse_request`` (pydantic, the explaining
path); they must agree on the decision, the denial basis, the authorization, every criterion's
status, the reasons, the questions, and, for input that cannot be decided, the error message.

    python bench/differential.py --n 1000000 --seed 1 --jobs 2

``tests/test_differential.py`` drives the same generator from hypothesis.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import multiprocessing as mp
import random
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from priorauth import Engine
from priorauth.errors import PriorAuthError
from priorauth.policy.load import builtin_policies
from priorauth.policy.model import (
    AttestationCondition,
    BiomarkerCondition,
    ConcurrentTherapyCondition,
    DiagnosisCondition,
    PriorTherapyCondition,
)
from priorauth.policy.tables import load_knowledge
from priorauth.request import parse_request


class Vocabulary:
    """The words requests are made of, from the policies and the knowledge tables."""

    def __init__(self) -> None:
        kb = load_knowledge()
        policies = builtin_policies()
        self.policies = policies
        self.names = sorted({n for p in policies for n in (p.drug.brand, p.drug.generic)})
        self.names += ["LUMAKRAS", "sotorasib 120 mg", "aspirin"]
        self.effective = sorted({p.effective_date for p in policies})
        self.strengths = [*sorted({s for p in policies for s in p.drug.strengths_mg}), 100, 0.5]
        families = sorted(kb.families)
        self.codes = [f"{f}.{d}" for f in families for d in ("0", "9", "90", "11")] + families
        self.codes += ["C78.00", "C78.7", "C79.51", "C77.2", "c34.90", "C3490", "Z99.9", "D49.1"]
        self.histologies = [*sorted(kb.histology_aliases), "Adenocarcinoma", "papillary", ""]
        self.genes = [*sorted(kb.gene_aliases), "KRAS", "Kras", "TP53"]
        alts = sorted({alt for (_, alt) in kb.companion_tests})
        alts += sorted({spelling for (_, spelling) in kb.alteration_aliases})
        self.alterations = [*alts, "p.G12C", "p.Gly12Cys", "KRAS G12C", "G12D", "exon 19 del", "?"]
        self.tests = sorted({t for tests in kb.companion_tests.values() for t in tests})
        self.tests += ["Therascreen KRAS RGQ PCR Kit", "in-house NGS panel", "Regional Lab Assay"]
        drugs = sorted(kb.drug_aliases) + sorted(kb.regimens)
        self.drugs = [
            *drugs,
            "FOLFOX + bevacizumab",
            "carboplatin/pemetrexed + pembrolizumab",
            "hemicolectomy",
            "right hemicolectomy",
            "chemoradiation",
            "SBRT",
            "ondansetron",
            "experimental agent X",
            "Lumakras",
            "sotorasib + panitumumab",
        ]
        self.topic_keys = [f"{t}_monitoring" for t in kb.attestation_topics]
        self.attestation_keys = (
            sorted(
                {
                    n.condition.key
                    for p in policies
                    for root in (p.requirements.initial, p.requirements.renewal)
                    for n in root.walk()
                    if isinstance(n.condition, AttestationCondition)
                }
            )
            + self.topic_keys[:3]
            + ["liver_monitorng"]
        )
        self.leaf_ids = [
            *sorted(
                n.id
                for p in policies
                for root in (p.requirements.initial, p.requirements.renewal)
                for n in root.walk()
                if n.condition is not None
            ),
            "initial.nope",
        ]
        # What each policy's criteria name, so that most requests reach deep into its tree.
        self.own: dict[str, dict[str, list[Any]]] = {}
        for p in policies:
            nodes = [n for r in (p.requirements.initial, p.requirements.renewal) for n in r.walk()]
            conds = [n.condition for n in nodes if n.condition is not None]
            fams = sorted(
                {
                    f
                    for c in conds
                    if isinstance(c, DiagnosisCondition)
                    for f in kb.diseases[c.disease].families
                }
            )
            genes = sorted({c.gene for c in conds if isinstance(c, BiomarkerCondition)})
            alts = sorted(
                {a for c in conds if isinstance(c, BiomarkerCondition) for a in c.alterations}
            )
            named = sorted(
                {
                    t
                    for c in conds
                    if isinstance(c, PriorTherapyCondition | ConcurrentTherapyCondition)
                    for t in getattr(c, "all_classes", [])
                    + getattr(c, "any_classes", [])
                    + getattr(c, "with_any", [])
                    + getattr(c, "with_all", [])
                    + getattr(c, "none_of", [])
                    + getattr(c, "not_progressed_on", [])
                }
            )
            class_drugs = sorted(
                {g for g, d in kb.drugs.items() for t in named if t in d.classes or t == g}
            )
            self.own[p.number] = {
                "codes": [f"{f}.{d}" for f in fams for d in ("0", "9", "90")] + fams,
                "genes": genes,
                "alterations": alts,
                "drugs": class_drugs,
                "keys": sorted({c.key for c in conds if isinstance(c, AttestationCondition)}),
                "ids": [n.id for n in nodes if n.condition is not None],
            }


@cache
def vocabulary() -> Vocabulary:
    return Vocabulary()


def _maybe(rng: random.Random, p: float = 0.5) -> bool:
    return rng.random() < p


def _date(rng: random.Random, around: dt.date, days: int) -> dt.date:
    return around + dt.timedelta(days=rng.randint(-days, days))


def _pick(rng: random.Random, mine: list[Any], every: list[Any], p_mine: float = 0.75) -> Any:
    return rng.choice(mine) if mine and _maybe(rng, p_mine) else rng.choice(every)


def _therapies(
    rng: random.Random, v: Vocabulary, own: dict[str, list[Any]], most: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(rng.randint(0, most)):
        t: dict[str, Any] = {"drug": _pick(rng, own["drugs"], v.drugs, 0.5)}
        if _maybe(rng, 0.15):
            t["months"] = rng.choice([0, 1, 2.5, 6, 12, 24])
        out.append(t)
    return out


def make_request(rng: random.Random, bad: float = 0.03) -> dict[str, Any]:
    """Half the time an example request (examples/) changed in a few places, so that every
    decision is reached; otherwise one drawn field by field."""
    req = _mutated_example(rng) if _maybe(rng, 0.5) else _drawn(rng)
    if _maybe(rng, bad):
        _spoil(rng, req)
    return req


@cache
def _examples() -> list[dict[str, Any]]:
    folder = Path(__file__).resolve().parent.parent / "examples"
    return [json.loads(f.read_text()) for f in sorted(folder.glob("*-*.json"))]


def _mutated_example(rng: random.Random) -> dict[str, Any]:
    v = vocabulary()
    req = copy.deepcopy(rng.choice(_examples()))
    policy = next(
        (p for p in v.policies if req["medication"]["name"] in (p.drug.brand, p.drug.generic)),
        v.policies[0],
    )
    own = v.own[policy.number]
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        kind = rng.randrange(12)
        if kind == 0:
            dos = dt.date.fromisoformat(req["date_of_service"]) + dt.timedelta(
                days=rng.randint(-60, 700)
            )
            req["date_of_service"] = dos.isoformat()
            if _maybe(rng, 0.3):
                born = dos.replace(year=dos.year - 18) if (dos.month, dos.day) != (2, 29) else dos
                req["member"]["birth_date"] = _date(rng, born, 1).isoformat()
        elif kind == 1:
            req["medication"]["quantity"] = rng.choice([30, 60, 90, 120, 180, 240, 300])
        elif kind in (2, 3, 4, 5):
            key = ["diagnoses", "biomarkers", "prior_therapies", "concurrent_therapies"][kind - 2]
            items = req.get(key)
            if items is None or _maybe(rng, 0.15):
                req[key] = [] if _maybe(rng) else None
                if req[key] is None:
                    del req[key]
                continue
            if key == "diagnoses":
                new: dict[str, Any] = {"code": _pick(rng, own["codes"], v.codes)}
                if _maybe(rng, 0.7):
                    new["histology"] = rng.choice(v.histologies)
                if _maybe(rng, 0.6):
                    new["extent"] = rng.choice(["localized", "locally_advanced", "metastatic"])
            elif key == "biomarkers":
                new = {
                    "gene": _pick(rng, own["genes"], v.genes, 0.9),
                    "alteration": _pick(rng, own["alterations"], v.alterations, 0.6),
                    "result": rng.choice(["positive", "negative"]),
                    "test": rng.choice(v.tests),
                }
            else:
                new = {"drug": _pick(rng, own["drugs"], v.drugs, 0.5)}
            if items and _maybe(rng):
                items[rng.randrange(len(items))] = new
            elif items and _maybe(rng, 0.3):
                items.pop(rng.randrange(len(items)))
            else:
                items.append(new)
        elif kind == 6:
            att = req.setdefault("attestations", {})
            if att and _maybe(rng):
                k = rng.choice(sorted(att))
                att[k] = not att[k]
            else:
                att[_pick(rng, own["keys"], v.attestation_keys, 0.9)] = _maybe(rng, 0.8)
        elif kind == 7:
            ds = req.setdefault("disease_status", {})
            ds[rng.choice(["progression", "unacceptable_toxicity"])] = _maybe(rng, 0.3)
        elif kind == 8:
            for m in req.get("biomarkers") or []:
                m["fda_approved"] = _maybe(rng, 0.7)
                if _maybe(rng, 0.3):
                    m["test"] = rng.choice(v.tests)
        elif kind == 9:
            for d in req.get("diagnoses") or []:
                if _maybe(rng):
                    d.pop("extent", None)
                else:
                    d["resectable"] = _maybe(rng)
        elif kind == 10:
            req["kind"] = "renewal" if req["kind"] == "initial" else "initial"
            req.pop("answers", None)
        else:
            ids = [i for i in own["ids"] if i.startswith(req["kind"])]
            if ids:
                req.setdefault("answers", {})[rng.choice(ids)] = _maybe(rng)
    return req


def _drawn(rng: random.Random) -> dict[str, Any]:
    """One request for one of the built-in policies (now and then a drug none covers, a date
    before any version, a strength the drug does not come in)."""
    v = vocabulary()
    policy = rng.choice(v.policies)
    own = v.own[policy.number]
    dos = policy.effective_date + dt.timedelta(days=rng.randint(-20, 900))
    if _maybe(rng, 0.1):
        birth = dos.replace(year=dos.year - 18) if (dos.month, dos.day) != (2, 29) else dos
        birth = _date(rng, birth, 2)
    else:
        birth = _date(rng, dos - dt.timedelta(days=365 * 60), 365 * 25)
    if _maybe(rng, 0.01):
        birth = dt.date(2000, 2, 29)
    name = rng.choice([policy.drug.brand, policy.drug.generic])
    strengths = policy.drug.strengths_mg or [100]
    req: dict[str, Any] = {
        "kind": rng.choice(["initial", "initial", "renewal"]),
        "date_of_service": dos.isoformat(),
        "member": {"id": f"M-{rng.randint(1, 99999)}", "birth_date": birth.isoformat()},
        "medication": {
            "name": name if _maybe(rng, 0.98) else rng.choice(v.names),
            "strength_mg": rng.choice(strengths) if _maybe(rng, 0.98) else rng.choice(v.strengths),
            "quantity": rng.choice([1, 30, 60, 90, 120, 180, 240, 300]),
            "days_supply": rng.choice([7, 28, 30, 90]),
        },
    }
    if _maybe(rng, 0.3):
        req["urgency"] = rng.choice(["standard", "expedited"])
    if _maybe(rng, 0.2):
        req["prescriber"] = {"npi": "1234567893", "name": "Example Oncology"}
    if _maybe(rng, 0.9):
        dxs = []
        for _ in range(rng.randint(0, 3)):
            d: dict[str, Any] = {"code": _pick(rng, own["codes"], v.codes)}
            if _maybe(rng, 0.8):
                d["histology"] = rng.choice(v.histologies)
            if _maybe(rng, 0.7):
                d["extent"] = rng.choice(["localized", "locally_advanced", "metastatic"])
            if _maybe(rng, 0.2):
                d["resectable"] = _maybe(rng)
            dxs.append(d)
        req["diagnoses"] = dxs
    if _maybe(rng, 0.85):
        markers = []
        for _ in range(rng.randint(0, 3)):
            m: dict[str, Any] = {
                "gene": _pick(rng, own["genes"], v.genes),
                "result": rng.choice(["positive", "positive", "negative"]),
            }
            if _maybe(rng, 0.85):
                m["alteration"] = _pick(rng, own["alterations"], v.alterations, 0.6)
            if _maybe(rng, 0.8):
                m["test"] = rng.choice(v.tests)
            if _maybe(rng, 0.6):
                m["fda_approved"] = _maybe(rng, 0.8)
            markers.append(m)
        req["biomarkers"] = markers
    if _maybe(rng, 0.85):
        req["prior_therapies"] = _therapies(rng, v, own, 4)
    if _maybe(rng, 0.8):
        req["concurrent_therapies"] = _therapies(rng, v, own, 2)
    if _maybe(rng, 0.85):
        req["attestations"] = {
            _pick(rng, own["keys"], v.attestation_keys, 0.9): _maybe(rng, 0.85)
            for _ in range(rng.randint(0, 2))
        }
    if _maybe(rng, 0.5):
        ds: dict[str, Any] = {}
        if _maybe(rng, 0.8):
            ds["progression"] = _maybe(rng, 0.3)
        if _maybe(rng, 0.8):
            ds["unacceptable_toxicity"] = _maybe(rng, 0.2)
        req["disease_status"] = ds
    if _maybe(rng, 0.1):
        ids = [i for i in own["ids"] if i.startswith(req["kind"])]
        req["answers"] = {
            _pick(rng, ids, v.leaf_ids, 0.95): _maybe(rng) for _ in range(rng.randint(1, 3))
        }
    return req


def _spoil(rng: random.Random, req: dict[str, Any]) -> None:
    """One mistake a submitter could make."""
    kind = rng.randrange(14)
    med, member = req["medication"], req["member"]
    if kind == 0:
        req["extra"] = 1
    elif kind == 1:
        med["quantity"] = str(med["quantity"])
    elif kind == 2:
        med["days_supply"] = 30.0
    elif kind == 3:
        member["birth_date"] = "2199-12-31"
    elif kind == 4:
        req["date_of_service"] = "1899-12-31"
    elif kind == 5:
        member["id"] = "M\x001"
    elif kind == 6:
        req["prescriber"] = {
            "npi": rng.choice(["123", "1234567893\n", "12345678901", "١٢٣٤٥٦٧٨٩٠"])
        }
    elif kind == 7:
        req["diagnoses"] = [{"code": rng.choice([" C34.90 ", "C34.90\n", "34.90", "C3X"])}]
    elif kind == 8:
        med["strength_mg"] = rng.choice([True, -1, 0, 2_000_000])
    elif kind == 9:
        req["attestations"] = {"liver_function_monitoring": "yes"}
    elif kind == 10:
        req["kind"] = "renew"
    elif kind == 11:
        req["biomarkers"] = [{"gene": "", "result": "positive"}]
    elif kind == 12:
        member["id"] = "M" * 65
    else:
        req["prior_therapies"] = [{"drug": "x", "months": -1}]


def _answer(det: Any) -> tuple[Any, ...]:
    return (
        det.decision,
        det.denial_basis,
        det.authorization,
        det.requested_daily_dose_mg,
        det._explain().statuses,
        [(r.id, r.text, r.status) for r in det.reasons],
        [(q.id, q.text) for q in det.missing],
    )


def _reference(slow: Engine, request: Any) -> tuple[Any, ...] | str:
    try:
        return _answer(slow.evaluate_model(parse_request(request)))
    except PriorAuthError as exc:
        return f"{type(exc).__name__}: {exc}"


def _compiled(fast: Engine, request: Any) -> tuple[Any, ...] | str:
    try:
        return _answer(fast.evaluate(request))
    except PriorAuthError as exc:
        return f"{type(exc).__name__}: {exc}"


def compare(fast: Engine, slow: Engine, request: dict[str, Any], as_json: bool) -> str | None:
    """None when both paths agree; otherwise what differs."""
    payload: Any = request
    if as_json:
        payload = orjson.dumps(request)
    want = _reference(slow, payload)
    got = _compiled(fast, payload)
    if got == want:
        return None
    return f"compiled: {got!r}\nexplaining: {want!r}"


_engines: tuple[Engine, Engine] | None = None


def _engines_once() -> tuple[Engine, Engine]:
    global _engines
    if _engines is None:
        _engines = (Engine(), Engine(compiled=False))
    return _engines


def run_range(args: tuple[int, int, int]) -> tuple[int, list[tuple[int, str, dict[str, Any]]]]:
    """Requests number ``start`` to ``stop`` of the seeded run: the count, the disagreements."""
    seed, start, stop = args
    fast, slow = _engines_once()
    off = []
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        request = make_request(rng)
        diff = compare(fast, slow, request, as_json=i % 2 == 1)
        if diff is not None:
            off.append((i, diff, request))
    return stop - start, off


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=mp.cpu_count())
    args = ap.parse_args(argv)
    started = time.perf_counter()
    step = 5000
    ranges = [(args.seed, a, min(a + step, args.n)) for a in range(0, args.n, step)]
    done = 0
    off: list[tuple[int, str, dict[str, Any]]] = []
    _engines_once()  # built once, shared with the forked workers
    with mp.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for count, bad in pool.imap_unordered(run_range, ranges):
            done += count
            off += bad
            if done % 100_000 < step:
                print(f"{done:,} requests, {len(off)} disagreements", flush=True)
    seconds = time.perf_counter() - started
    print(
        f"differential: {done:,} generated requests (seed {args.seed}) across "
        f"{len(vocabulary().policies)} built-in policy versions, {len(off)} disagreements "
        f"({seconds:.0f} s, {args.jobs} processes)"
    )
    for i, diff, request in sorted(off)[:5]:
        print(f"#{i}: {request}\n{diff}")
    return 1 if off else 0


if __name__ == "__main__":
    sys.exit(main())
