"""The decision alone, compiled: one generated Python function per (policy version, kind).

The explaining path (``plan.py``, ``conditions.py``) normalizes a request into facts, computes
every criterion's status and records the facts that decided it. Routing a request needs none of
that, only the overall status. Here each criterion becomes a few lines of Python inlined into one
function that reads the validated request directly, stops at the first child that settles each
group, and looks knowledge up once per distinct string (a drug name, a code, a test) in tables
precomputed per criterion; for the fast validator's Structs, each criterion's status is also
remembered per distinct list it reads (the diagnoses, the biomarkers, the therapies). It must
decide exactly as the explaining path does: a differential test (``make differential``)
compares the two on generated requests across every built-in policy.

Rare shapes (a drug given for at most N months, the adjuvant setting, attestations given topic
by topic) call the explaining path's evaluator for that criterion, so they stay exact without a
second implementation.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any

from priorauth.engine.compiled_measures import (
    bmi_leaf,
    dose_limit_leaf,
    observation_leaf,
    simple_observation,
)
from priorauth.engine.conditions import Evaluator, Term, _terms, biomarker_rule
from priorauth.engine.facts import Facts, age_in_years
from priorauth.engine.logic import Status
from priorauth.engine.measures import age_in_months
from priorauth.engine.plan import Plan, Statuses, group_expression
from priorauth.engine.steps import step_therapy_leaf
from priorauth.policy.model import (
    AgeCondition,
    AttestationCondition,
    BiomarkerCondition,
    BmiCondition,
    ConcurrentTherapyCondition,
    Condition,
    Criterion,
    DiagnosisCondition,
    DiseaseStatusCondition,
    DoseLimitCondition,
    ObservationCondition,
    PriorTherapyCondition,
    QuestionCondition,
    SexCondition,
    StepTherapyCondition,
)
from priorauth.policy.tables import Knowledge, norm, norm_code

FastLeaf = Callable[[Any], Status]

# Memo tables are per criterion and bounded in entries and in the bytes their keys hold: the
# same few thousand spellings and lists recur across millions of requests, and a stream of
# distinct ones (or of long ones: a list of two hundred therapies is one key) must not grow a
# worker without end. A full table is emptied and fills again with what recurs.
MEMO_ENTRIES = 65536
MEMO_BYTES = 1_000_000
# A key larger than this is decided every time rather than remembered (a typical list of
# diagnoses or therapies weighs a few hundred bytes).
KEY_BYTES = 16_384


def key_bytes(key: Any) -> int:
    """About the bytes a memo's key holds: its text and what each value and container costs
    (CPython's sizes for ASCII text, tuples and references; a Struct counted like a tuple)."""
    if type(key) is str:
        return 49 + len(key)
    if type(key) is tuple:
        return 40 + sum(8 + key_bytes(k) for k in key)
    fields = getattr(key, "__struct_fields__", None)
    if fields is not None:
        return 16 + sum(8 + key_bytes(getattr(key, f)) for f in fields)
    return 32


class Memo:
    """One memo: ``table`` is a plain dict that the deciding code reads directly (a lookup is
    the hot path), written only through ``remember``, which keeps the bounds."""

    __slots__ = ("bytes", "table")

    def __init__(self) -> None:
        self.table: dict[Any, Any] = {}
        self.bytes = 0

    def remember(self, key: Any, value: Any) -> Any:
        size = key_bytes(key)
        if size > KEY_BYTES:
            return value
        if len(self.table) >= MEMO_ENTRIES or self.bytes + size > MEMO_BYTES:
            self.table.clear()  # the same dict: the deciding code holds it
            self.bytes = 0
        self.table[key] = value
        self.bytes += size
        return value


class _CodeInfo:
    """ICD-10-CM code as written -> (family, the extent the code says by itself, the code
    without its dot, for diseases named by codes finer than a family)."""

    def __init__(self, kb: Knowledge, memo: Memo) -> None:
        self.memo: dict[str, tuple[str, str | None, str]] = memo.table
        self.remember = memo.remember
        self.extent_codes = kb.extent_codes

    def __call__(self, code: str) -> tuple[str, str | None, str]:
        got = self.memo.get(code)
        if got is None:
            whole = norm_code(code)
            family = whole[:3]
            got = (family, self.extent_codes.get(family), whole)
            self.remember(code, got)
        return got


def _spread(dxs: list[Any], info: _CodeInfo) -> str | None:
    """The extent secondary-neoplasm codes say (metastatic wins), as facts.Facts.diagnoses."""
    spread: str | None = None
    for d in dxs:
        ext = info(d.code)[1]
        if ext == "metastatic" or (ext and spread is None):
            spread = ext
    return spread


def _diagnosis(
    c: DiagnosisCondition, kb: Knowledge, info: _CodeInfo, new_memo: Callable[[], Memo]
) -> FastLeaf:
    disease = kb.diseases[c.disease]
    families = disease.families
    prefixes = disease.prefixes
    histologies = disease.histologies
    extents = frozenset(c.extents) if c.extents else None
    resectable = c.resectable
    severities = frozenset(c.severities) if c.severities is not None else None
    hists = new_memo()
    hist_memo: dict[str, str] = hists.table

    known = info.memo

    def diagnosis(r: Any) -> Status:
        dxs = r.diagnoses
        if dxs is None:
            return None
        unknown = False
        spread: str | None = None
        spread_done = False
        for d in dxs:
            code_info = known.get(d.code) or info(d.code)
            if code_info[0] not in families and not (
                prefixes and code_info[2].startswith(prefixes)
            ):
                continue
            s: Status = True
            if histologies is not None:
                h = d.histology
                if not h:
                    s = None
                else:
                    canon = hist_memo.get(h)
                    if canon is None:
                        canon = hists.remember(h, kb.histology(h))
                    if canon not in histologies:
                        continue  # this diagnosis is not met: k_or moves on
            if extents is not None:
                ext = d.extent
                if ext is None:
                    if not spread_done:
                        spread, spread_done = _spread(dxs, info), True
                    ext = spread
                if ext is None:
                    s = None
                elif ext not in extents:
                    continue
            if resectable is not None:
                res = d.resectable
                if res is None:
                    s = None
                elif res != resectable:
                    continue
            if severities is not None:
                severity = d.severity
                if severity is None:
                    s = None
                elif severity not in severities:
                    continue
            if s is True:
                return True
            unknown = True
        return None if unknown else False

    return diagnosis


_SKIP = False  # a result for another gene: k_or's identity, the same as not met


def _biomarker(c: BiomarkerCondition, kb: Knowledge, new_memo: Callable[[], Memo]) -> FastLeaf:
    gene, one, _ = biomarker_rule(c, kb)
    remembered = new_memo()
    memo: dict[tuple[Any, ...], Status] = remembered.table
    missing = object()

    def verdict(key: tuple[Any, ...]) -> Status:
        m_gene, alteration, result, test, flag = key
        if kb.gene(m_gene) != gene:
            return _SKIP
        alt = kb.alteration(gene, alteration) if alteration else None
        return one(alt, alteration is not None, result, norm(test) if test else None, flag)

    def biomarker(r: Any) -> Status:
        markers = r.biomarkers
        if markers is None:
            return None
        unknown = False
        for m in markers:
            key = (m.gene, m.alteration, m.result, m.test, m.fda_approved)
            s = memo.get(key, missing)
            if s is missing:
                s = remembered.remember(key, verdict(key))
            if s is True:
                return True
            if s is None:
                unknown = True
        return None if unknown else False

    return biomarker


def _masks(terms: tuple[Term, ...], classes: frozenset[str], generics: frozenset[str]) -> int:
    """Bit i set when the i-th term is covered (conditions._covers)."""
    mask = 0
    for i, (is_drug, name) in enumerate(terms):
        if (name in generics) if is_drug else (name in classes):
            mask |= 1 << i
    return mask


def _prior_therapy(
    c: PriorTherapyCondition, kb: Knowledge, slow: Evaluator, new_memo: Callable[[], Memo]
) -> FastLeaf:
    if c.limit_drug or c.only_in_setting is not None:
        # Months of a drug and the adjuvant setting: rare; the explaining evaluator decides.
        def delegated(r: Any) -> Status:
            return slow(Facts(r, kb), None)

        return delegated

    minimum = c.min_systemic
    maximum = c.max_systemic
    every_of = _terms(c.all_classes, kb)
    one_of = _terms(c.any_classes, kb)
    watch = _terms(c.not_progressed_on, kb)
    progression = c.progression
    terms = every_of + one_of + watch
    every_bits = (1 << len(every_of)) - 1
    one_bits = ((1 << len(one_of)) - 1) << len(every_of)
    watch_bits = ((1 << len(watch)) - 1) << (len(every_of) + len(one_of))
    # drug as written -> (recognised, systemic, terms covered)
    remembered = new_memo()
    memo: dict[str, tuple[bool, int, int]] = remembered.table

    def entry(drug: str) -> tuple[bool, int, int]:
        d = kb.drug_info(drug)
        if d is None:
            return (False, 0, 0)
        got = (True, int(d.systemic_anticancer), _masks(terms, d.classes, frozenset(d.generics)))
        return got

    def prior_therapy(r: Any) -> Status:
        therapies = r.prior_therapies
        if therapies is None:
            return None
        systemic = unresolved = covered = 0
        for t in therapies:
            e = memo.get(t.drug)
            if e is None:
                e = remembered.remember(t.drug, entry(t.drug))
            if e[0]:
                systemic += e[1]
                covered |= e[2]
            else:
                unresolved += 1
        verdict: Status = True
        if minimum and systemic < minimum:
            if systemic + unresolved < minimum:
                return False
            verdict = None
        if every_bits and covered & every_bits != every_bits:
            if not unresolved:
                return False
            verdict = None
        if maximum is not None and systemic + unresolved > maximum:
            if systemic > maximum:
                return False
            verdict = None
        if one_bits and not covered & one_bits:
            if not unresolved:
                return False
            verdict = None
        if progression is not None or watch_bits:
            ds = r.disease_status
            progressed = None if ds is None else ds.progression
            if progression is not None:
                if progressed is None:
                    verdict = None
                elif progressed != progression:
                    return False
            if watch_bits:
                if covered & watch_bits:
                    if progressed is None:
                        verdict = None
                    elif progressed:
                        return False
                elif unresolved:
                    verdict = None
        return verdict

    return prior_therapy


def _concurrent(
    c: ConcurrentTherapyCondition, kb: Knowledge, own_drug: str, new_memo: Callable[[], Memo]
) -> FastLeaf:
    single = c.single_agent
    with_any = _terms(c.with_any, kb)
    with_all = _terms(c.with_all, kb)
    none_of = _terms(c.none_of, kb)
    terms = with_any or with_all or none_of
    all_bits = (1 << len(terms)) - 1
    own = (own_drug,)
    UNRESOLVED, ITSELF, OTHER = 0, 1, 2
    # drug as written -> (what it is, rules out a single agent, terms covered)
    remembered = new_memo()
    memo: dict[str, tuple[int, bool, int]] = remembered.table

    def entry(drug: str) -> tuple[int, bool, int]:
        d = kb.drug_info(drug)
        if d is None:
            return (UNRESOLVED, False, 0)
        if d.generics == own:
            return (ITSELF, False, 0)
        others = frozenset(g for g in d.generics if g != own_drug)
        kills = d.systemic_anticancer and bool(others)
        return (OTHER, kills, _masks(terms, d.classes, others))

    def concurrent_therapy(r: Any) -> Status:
        therapies = r.concurrent_therapies
        if therapies is None:
            return None
        unresolved = False
        covered = 0
        for t in therapies:
            e = memo.get(t.drug)
            if e is None:
                e = remembered.remember(t.drug, entry(t.drug))
            kind = e[0]
            if kind == UNRESOLVED:
                unresolved = True
            elif kind == OTHER:
                if single and e[1]:
                    return False
                covered |= e[2]
        if single:
            return None if unresolved else True
        if with_any:
            if covered:
                return True
            return None if unresolved else False
        if with_all:
            if covered == all_bits:
                return True
            return None if unresolved else False
        if covered:
            return False
        return None if unresolved else True

    return concurrent_therapy


def _attestation(c: AttestationCondition, kb: Knowledge, slow: Evaluator) -> FastLeaf:
    key = c.key

    def attestation(r: Any) -> Status:
        given = r.attestations
        if given is None:
            return None
        if key in given:
            value: bool = given[key]
            return value
        # Attested topic by topic: rare; the explaining evaluator combines the topics.
        return slow(Facts(r, kb), None)

    return attestation


def _one_status(c: DiseaseStatusCondition) -> tuple[str, bool] | None:
    """The one field of disease_status the condition reads and the value that meets it, when it
    reads one only."""
    asked = [
        (field, wanted)
        for on, field, wanted in (
            (c.positive_response, "clinical_response", True),
            (c.no_progression, "progression", False),
            (c.no_unacceptable_toxicity, "unacceptable_toxicity", False),
        )
        if on
    ]
    return asked[0] if len(asked) == 1 else None


def _disease_status(c: DiseaseStatusCondition) -> FastLeaf:
    check_p = c.no_progression
    check_t = c.no_unacceptable_toxicity
    check_r = c.positive_response

    def disease_status(r: Any) -> Status:
        ds = r.disease_status
        if ds is None:
            return None if (check_p or check_t or check_r) else True
        verdict: Status = True
        if check_r:
            response = ds.clinical_response
            if response is None:
                verdict = None
            elif not response:
                return False
        if check_p:
            p = ds.progression
            if p is None:
                verdict = None
            elif p:
                return False
        if check_t:
            t = ds.unacceptable_toxicity
            if t is None:
                verdict = None
            elif t:
                return False
        return verdict

    return disease_status


def age_threshold(on: dt.date, years: int) -> dt.date:
    """The latest birth date of someone at least ``years`` old on ``on``, in completed calendar
    years as facts.age_in_years counts them (born on February 29, the birthday is February 28
    in other years): age_in_years(b, on) >= years exactly when b <= age_threshold(on, years)."""
    y = on.year - years
    if y < dt.MINYEAR:
        return dt.date.min
    if on.month == 2 and on.day == 28 and calendar.isleap(y) and not calendar.isleap(on.year):
        return dt.date(y, 2, 29)
    if on.month == 2 and on.day == 29 and not calendar.isleap(y):
        return dt.date(y, 2, 28)
    return dt.date(y, on.month, on.day)


def _thresholds(
    years: int, memo: Memo
) -> tuple[dict[dt.date, dt.date], Callable[[dt.date], dt.date]]:
    """age_threshold for one age, remembered per date of service."""

    def threshold(on: dt.date) -> dt.date:
        got: dt.date = memo.remember(on, age_threshold(on, years))
        return got

    return memo.table, threshold


def _in_years(c: AgeCondition) -> bool:
    """An age in years, with or without an upper bound: inlined by thresholds."""
    return c.min_months is None and c.max_months is None


def _per_dose(c: DoseLimitCondition) -> bool:
    """A limit on the dose alone (per day or week), not per kg: inlined."""
    return c.max_mg_per_kg_per_day is None and c.max_mg_per_kg_per_week is None


def _age_range(c: AgeCondition) -> FastLeaf:
    """An age between bounds, in years or months (measures.age decides the same)."""
    low_y, high_y = c.min_years, c.max_years
    low_m, high_m = c.min_months, c.max_months

    def age(r: Any) -> Status:
        birth, on = r.member.birth_date, r.date_of_service
        years = age_in_years(birth, on)
        if years < low_y or (high_y is not None and years > high_y):
            return False
        if low_m is None and high_m is None:
            return True
        months = age_in_months(birth, on)
        return (low_m is None or months >= low_m) and (high_m is None or months <= high_m)

    return age


def _sex(c: SexCondition) -> FastLeaf:
    wanted = frozenset(c.sexes)

    def sex(r: Any) -> Status:
        given = r.member.sex
        return None if given is None or given == "unknown" else given in wanted

    return sex


# The request fields a condition decided by the explaining evaluator depends on alone (a change
# from baseline: every value of one observation, in order).
_AREA_FIELDS: dict[type, tuple[str, ...]] = {
    ObservationCondition: ("observations", "date_of_service"),
}


def _explained_only(cond: Condition, kb: Knowledge) -> bool:
    """Shapes that imported documents use and the built-in policies do not (a code finer than a
    family, 'unresectable or metastatic', a drug never received, a marker read from its
    parts): the explaining evaluator decides them, so that there is one
    implementation to keep exact."""
    if isinstance(cond, DiagnosisCondition):
        return cond.extent_or_unresectable
    if isinstance(cond, PriorTherapyCondition):
        return bool(cond.not_received)
    if isinstance(cond, BiomarkerCondition):
        return bool(kb.gene_parts.get(biomarker_rule(cond, kb)[0]))
    return False


class CompiledPlan:
    """One plan's criteria as generated code: the overall status and the denial's basis inlined
    into the decider's function (``inline``, ``investigational``), and every node's status for
    explanations (``statuses``)."""

    def __init__(self, plan: Plan, kb: Knowledge, own_drug: str) -> None:
        self.plan = plan
        # Every memo of this plan, for what a worker holds (memo_sizes).
        self.all_memos: list[Memo] = []
        info = _CodeInfo(kb, self._new_memo())
        self.leaves: dict[str, FastLeaf] = {}
        # leaf -> the request fields its status depends on alone (None: it reads more, or
        # facts, and is not remembered)
        self.keys: dict[str, tuple[str, ...] | None] = {}
        conditions = plan.conditions
        for key, cond in conditions.items():
            leaf, fields = self._leaf(cond, kb, own_drug, info, plan.evaluators[key])
            self.leaves[key] = leaf
            self.keys[key] = fields
        # The leaves that depend on the same fields are remembered together: one lookup (one
        # hash of the list) gives all their statuses, e.g. each indication's diagnosis check.
        self.groups: list[tuple[tuple[str, ...], list[str]]] = []
        self.group_of: dict[str, tuple[int, int]] = {}
        for key, fields in self.keys.items():
            if fields is None:
                continue
            g = next((n for n, (f, _) in enumerate(self.groups) if f == fields), None)
            if g is None:
                g = len(self.groups)
                self.groups.append((fields, []))
            self.group_of[key] = (g, len(self.groups[g][1]))
            self.groups[g][1].append(key)
        self.memos: list[Memo] = [self._new_memo() for _ in self.groups]
        self.thresholds = {
            key: _thresholds(cond.min_years, self._new_memo())
            for key, cond in conditions.items()
            if isinstance(cond, AgeCondition) and _in_years(cond)
        }
        # "12 to 17 years": younger than 18, a birth date after the threshold of 18.
        self.upper_thresholds = {
            key: _thresholds(cond.max_years + 1, self._new_memo())
            for key, cond in conditions.items()
            if isinstance(cond, AgeCondition) and _in_years(cond) and cond.max_years is not None
        }
        # A number for each leaf's names in generated code; the diagnosis checks only the
        # denial's basis uses come after the tree's nodes.
        self.slot = dict(plan.index)
        for key in conditions:
            self.slot.setdefault(key, len(self.slot))
        self.statuses: Callable[[Any, dict[str, bool]], Statuses] = self._generate_all()

    def _new_memo(self) -> Memo:
        memo = Memo()
        self.all_memos.append(memo)
        return memo

    def memo_sizes(self) -> list[tuple[int, int]]:
        """(entries, key bytes) of each memo: what deciding has made this plan remember."""
        return [(len(m.table), m.bytes) for m in self.all_memos]

    def _leaf(
        self, cond: Condition, kb: Knowledge, own: str, info: _CodeInfo, slow: Evaluator
    ) -> tuple[FastLeaf, tuple[str, ...] | None]:
        if _explained_only(cond, kb):

            def explained(r: Any) -> Status:
                return slow(Facts(r, kb), None)

            return explained, None
        if isinstance(cond, DiagnosisCondition):
            return _diagnosis(cond, kb, info, self._new_memo), ("diagnoses",)
        if isinstance(cond, BiomarkerCondition):
            return _biomarker(cond, kb, self._new_memo), ("biomarkers",)
        if isinstance(cond, PriorTherapyCondition):
            leaf = _prior_therapy(cond, kb, slow, self._new_memo)
            if cond.limit_drug or cond.only_in_setting is not None:
                return leaf, None
            if cond.progression is not None or cond.not_progressed_on:
                return leaf, ("prior_therapies", "disease_status")
            return leaf, ("prior_therapies",)
        if isinstance(cond, ConcurrentTherapyCondition):
            return _concurrent(cond, kb, own, self._new_memo), ("concurrent_therapies",)
        if isinstance(cond, AttestationCondition):
            return _attestation(cond, kb, slow), None
        if isinstance(cond, DiseaseStatusCondition):
            # One field asked for is read in place by the generated code (leaf_expr): no memo.
            memo_fields = None if _one_status(cond) is not None else ("disease_status",)
            return _disease_status(cond), memo_fields
        if isinstance(cond, QuestionCondition):
            return (lambda r: None), None
        if isinstance(cond, SexCondition):
            return _sex(cond), None
        if isinstance(cond, AgeCondition) and not cond.years_only:
            return _age_range(cond), None
        # Observations seldom recur whole: decided afresh, from spellings remembered.
        if isinstance(cond, ObservationCondition) and simple_observation(cond):
            return observation_leaf(cond), None
        if isinstance(cond, BmiCondition):
            return bmi_leaf(cond, kb), None
        if isinstance(cond, DoseLimitCondition):
            return dose_limit_leaf(cond, kb, slow), None
        # Trials carry lengths, doses and dates: decided afresh, from drug spellings remembered.
        if isinstance(cond, StepTherapyCondition):
            return step_therapy_leaf(cond, kb), None
        # A change from baseline: the explaining evaluator decides, and for the fast
        # validator's Structs its status is remembered per distinct list of observations.
        fields = _AREA_FIELDS.get(type(cond))
        if fields is not None:

            def remembered(r: Any) -> Status:
                return slow(Facts(r, kb), None)

            return remembered, fields

        # Age is inlined by the generator; anything else the explaining evaluator decides.
        def delegated(r: Any) -> Status:
            return slow(Facts(r, kb), None)

        return delegated, None

    def _filler(self, group: int) -> Callable[[Any], tuple[Status, ...]]:
        """The statuses of a group's leaves, remembered under the fields they depend on (for
        the fast validator's Structs only: a pydantic model's lists cannot key a dict)."""
        fields, leaf_ids = self.groups[group]
        leaves = [self.leaves[i] for i in leaf_ids]
        remember = self.memos[group].remember
        if len(fields) == 1:
            (name,) = fields

            def key_of(r: Any) -> Any:
                return getattr(r, name)
        else:

            def key_of(r: Any) -> Any:
                return tuple(getattr(r, f) for f in fields)

        def fill(r: Any) -> tuple[Status, ...]:
            got: tuple[Status, ...] = remember(key_of(r), tuple(f(r) for f in leaves))
            return got

        return fill

    def memo_lines(self, env: dict[str, Any]) -> list[str]:
        """The first lines of a function whose leaves are looked up (leaf_expr with memo)."""
        for g in range(len(self.groups)):
            env[f"M{g}"] = self.memos[g].table
            env[f"F{g}"] = self._filler(g)
        return [f"    _v{g} = None" for g in range(len(self.groups))]

    def inline(self, env: dict[str, Any], answered: bool, memo: bool) -> tuple[list[str], str]:
        """The plan's overall status as lines of a generated function's body (the request in
        ``r``, direct answers in ``a`` when ``answered``), each group stopping at its first
        settling child; and the variable that holds the status afterwards. Without ``answered``,
        the function's head has sent aside (to the checks) a request with an attestation the
        plan does not ask for. ``memo``: each leaf looked up under the fields it depends on
        first (for the Structs only). What the lines call is put in ``env``."""
        plan = self.plan
        lines: list[str] = self.memo_lines(env) if memo else []
        if any(isinstance(c, AgeCondition) for c in plan.conditions.values()):
            lines.append("    _b = r.member.birth_date; _d = r.date_of_service")

        def emit(node: Criterion, depth: int) -> None:
            """Lines that leave the node's status in s{depth}. Variables are named by depth, not
            by node: a child's status is read as soon as it is known, so one pair per level
            serves the whole tree, and the generated function's frame stays small."""
            pad = "    " * (depth + 1)
            if node.condition is not None:
                lines.append(f"{pad}s{depth} = {self.leaf_expr(node.id, env, answered, memo)}")
                return
            if node.ambiguous is not None:
                emit_ambiguous(node, depth)
                return
            settle, other = ("False", "True") if node.all is not None else ("True", "False")
            # A loop left at its end is a block to break out of: the group stops at its first
            # settling child.
            lines.append(f"{pad}while True:")
            inner = pad + "    "
            lines.append(f"{inner}u{depth} = False")
            j = depth + 1
            for child in node.children:
                emit(child, j)
                # One test for the commonest status, the one that neither settles the group
                # nor leaves it unknown.
                lines.append(f"{inner}if s{j} is not {other}:")
                lines.append(f"{inner}    if s{j} is {settle}: s{depth} = {settle}; break")
                lines.append(f"{inner}    u{depth} = True")
            lines.append(f"{inner}s{depth} = None if u{depth} else {other}")
            lines.append(f"{inner}break")

        def emit_ambiguous(node: Criterion, depth: int) -> None:
            """An ambiguous group: True when every child is, False when none is, else unknown
            (stopping once it is neither); or the reviewer's answer for the whole group."""
            pad = "    " * (depth + 1)
            inner = pad + "    "
            lines.append(f"{pad}while True:")
            if answered:
                lines.append(f"{inner}if {node.id!r} in a: s{depth} = a[{node.id!r}]; break")
            lines.append(f"{inner}y{depth} = n{depth} = True")
            j = depth + 1
            for child in node.children:
                emit(child, j)
                lines.append(f"{inner}if s{j} is not True: y{depth} = False")
                lines.append(f"{inner}if s{j} is not False: n{depth} = False")
                lines.append(f"{inner}if not (y{depth} or n{depth}): s{depth} = None; break")
            lines.append(f"{inner}s{depth} = True if y{depth} else (False if n{depth} else None)")
            lines.append(f"{inner}break")

        emit(plan.root, 0)
        return lines, "s0"

    def investigational(self, env: dict[str, Any], answered: bool, memo: bool) -> str:
        """diagnosis_matches_none as one expression over the leaves (for a generated function)."""
        plan = self.plan

        def failed(leaf_id: str) -> str:
            return f"{self.leaf_expr(leaf_id, env, answered, memo)} is False"

        gate = " or ".join(failed(i) for i in plan.gate_dx) or "False"
        if not plan.indication_dx or not all(plan.indication_dx):
            return gate
        every = " and ".join(
            "(" + " or ".join(failed(i) for i in ids) + ")" for ids in plan.indication_dx
        )
        return f"({gate}) or ({every})"

    def leaf_expr(self, leaf_id: str, env: dict[str, Any], answered: bool, memo: bool) -> str:
        """An expression for the leaf's status (what it calls put in ``env``)."""
        cond = self.plan.conditions[leaf_id]
        i = self.slot[leaf_id]
        fields = self.keys[leaf_id]
        if isinstance(cond, AgeCondition) and _in_years(cond):
            # A birth date on or before the date's threshold, the threshold once per date.
            env[f"t{i}"], env[f"tf{i}"] = self.thresholds[leaf_id]
            expr = f"(_b <= (t{i}.get(_d) or tf{i}(_d)))"
            if leaf_id in self.upper_thresholds:
                env[f"tu{i}"], env[f"tuf{i}"] = self.upper_thresholds[leaf_id]
                expr = f"({expr} and _b > (tu{i}.get(_d) or tuf{i}(_d)))"
        elif isinstance(cond, SexCondition):
            wanted = repr(tuple(sorted(cond.sexes)))
            expr = (
                f"(None if (_sx := r.member.sex) is None or _sx == 'unknown' else _sx in {wanted})"
            )
        elif isinstance(cond, DoseLimitCondition) and _per_dose(cond):
            # The same arithmetic as compiled_measures.dose_limit_leaf, inline.
            dose = "(_dq := r.medication.strength_mg * r.medication.quantity"
            dose += " / r.medication.days_supply)"
            over = []
            if cond.max_mg_per_day is not None:
                over.append(f"{dose} > {cond.max_mg_per_day + 1e-9!r}")
                dose = "_dq"
            if cond.max_mg_per_week is not None:
                over.append(f"{dose} * 7 > {cond.max_mg_per_week + 1e-9!r}")
            expr = f"(not ({' or '.join(over)}))"
        elif isinstance(cond, DiseaseStatusCondition) and (one := _one_status(cond)) is not None:
            # One field of disease_status asked for: read in place, as _disease_status does.
            field, meets = one
            value = f"r.disease_status.{field}"
            if meets:
                expr = f"(None if r.disease_status is None else {value})"
            else:
                expr = (
                    f"(None if r.disease_status is None or (_dv := {value}) is None else not _dv)"
                )
        elif isinstance(cond, QuestionCondition):
            expr = "None"
        elif isinstance(cond, AttestationCondition):
            # Inline for the common case, the key itself given; topics go to the function.
            env[f"e{i}"] = self.leaves[leaf_id]
            key = repr(cond.key)
            given = f"{key} in _g"
            if not answered and self.plan.attestation_keys == {cond.key}:
                # The function's head sent aside attestations with any other key: given any,
                # this one is among them.
                given = "_g"
            expr = (
                f"(None if (_g := r.attestations) is None else _g[{key}] if {given} else e{i}(r))"
            )
        elif memo and fields:
            # The group's statuses, looked up at its first leaf (a tuple: never false).
            g, k = self.group_of[leaf_id]
            names = [f"r.{f}" for f in fields]
            key = names[0] if len(names) == 1 else f"({', '.join(names)})"
            expr = f"(_v{g} or (_v{g} := M{g}.get({key}) or F{g}(r)))[{k}]"
        else:
            env[f"e{i}"] = self.leaves[leaf_id]
            expr = f"e{i}(r)"
        if answered:
            expr = f"(a[{leaf_id!r}] if {leaf_id!r} in a else {expr})"
        return expr

    def _generate_all(self) -> Callable[[Any, dict[str, bool]], Statuses]:
        """Every node's status in document order, as Plan.evaluate gives them (no short cut:
        reasons and questions need the whole tree), for the explanation of a decision."""
        plan = self.plan
        env: dict[str, Any] = {}
        lines: list[str] = []

        def emit(node: Criterion) -> None:
            i = plan.index[node.id]
            if node.condition is not None:
                lines.append(f"    s{i} = {self.leaf_expr(node.id, env, True, False)}")
                return
            for child in node.children:
                emit(child)
            lines.append(f"    s{i} = {group_expression(node, plan.index, True)}")

        emit(plan.root)
        head = "def statuses(r, a):\n    _b = r.member.birth_date; _d = r.date_of_service\n"
        ret = "    return (" + "".join(f"s{i}, " for i in range(len(plan.order))) + ")\n"
        source = head + "\n".join(lines) + "\n" + ret
        exec(compile(source, f"<statuses {plan.root.id}>", "exec"), env)
        run: Callable[[Any, dict[str, bool]], Statuses] = env["statuses"]
        return run
