"""From criterion statuses to a decision: approval and its limits, denial and its basis, or the
questions that can still change the outcome."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from priorauth.determination import (
    Authorization,
    Decision,
    DenialBasis,
    Determination,
    PolicyRef,
    Question,
    Reason,
    StatusName,
    TraceNode,
)
from priorauth.engine.codegen import bound_source
from priorauth.engine.compiled import CompiledPlan
from priorauth.engine.facts import Facts
from priorauth.engine.logic import STATUS_NAMES, Status, k_and
from priorauth.engine.plan import Plan, Statuses
from priorauth.errors import RequestError
from priorauth.policy.model import Criterion, DiagnosisCondition, Limits, Policy
from priorauth.policy.questions import question_text
from priorauth.policy.tables import Knowledge
from priorauth.request import AnyRequest

Kind = Literal["initial", "renewal"]
# decision, authorization, daily dose as shown, within the limit, the limit's wording
_Approval = tuple[Decision, Authorization, int | float, bool | None, str | None]
_ONE_DAY = dt.timedelta(days=1)
# A daily dose this far over the cap is still within it (a quantity and days supply that give
# the cap exactly can divide to a hair above it).
_TOLERANCE = 1e-9


def authorization_end(start: dt.date, months: int) -> dt.date:
    """Last day (inclusive) of a period of ``months`` calendar months from ``start``.

    The period ends the day before the anniversary; when the anniversary's day does not exist
    (a period from January 31, or from February 29), the anniversary is the first of the next
    month, so no day of the last month is lost.
    """
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    if start.day <= 28 or start.day <= calendar.monthrange(year, month)[1]:
        return dt.date(year, month, start.day) - _ONE_DAY
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def max_daily_dose_mg(limits: Limits, strength_mg: float) -> float | None:
    q = limits.quantity_for(strength_mg)
    if q is None:
        return None
    per_day = q.amount / q.per_days
    return per_day if q.unit == "mg" else per_day * strength_mg


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 3)


def _diagnosis_leaves(node: Criterion) -> list[Criterion]:
    return [n for n in node.walk() if isinstance(n.condition, DiagnosisCondition)]


def diagnosis_status(indication: Criterion, st: dict[str, Status]) -> Status:
    """Whether the patient's diagnosis is this indication's (its other criteria aside)."""
    dx = _diagnosis_leaves(indication)
    return k_and(st[n.id] for n in dx) if dx else st[indication.id]


def deciding_nodes(node: Criterion, st: dict[str, Status]) -> list[Criterion]:
    """The leaves that decided ``node``'s status.

    A met ONE-of is decided by its first met path. A failed ONE-of of indications is decided by
    the indications the diagnosis matches; when it matches none, by the diagnoses alone.
    """
    if node.condition is not None:
        return [node]
    s = st[node.id]
    kids = node.children
    if node.any is not None and s is True:
        kids = [next(c for c in kids if st[c.id] is True)]
    elif node.any is not None and s is False and any(c.indication for c in kids):
        matched = [c for c in kids if c.indication and diagnosis_status(c, st) is not False]
        if not matched:
            return [n for c in kids for n in _diagnosis_leaves(c) if st[n.id] is False]
        kids = matched
    elif node.ambiguous is not None and s is None and all(st[c.id] is not None for c in kids):
        pass  # items met and items not met: together they leave the group open
    elif not (node.all is not None and s is True):
        kids = [c for c in kids if st[c.id] is s]
    return [leaf for c in kids for leaf in deciding_nodes(c, st)]


def open_questions(node: Criterion, st: dict[str, Status]) -> list[Criterion]:
    """Unknown leaves under ancestors that are all still unknown: only their answers can change
    the outcome (a met or failed branch is settled whatever else is answered)."""
    if st[node.id] is not None:
        return []
    if node.condition is not None:
        return [node]
    below = [q for c in node.children for q in open_questions(c, st)]
    if not below and node.ambiguous is not None:
        # Every item known, some met and some not: only the reviewer's reading decides.
        return [node]
    return below


def question_for(node: Criterion) -> Question:
    return Question(
        id=node.id,
        text=question_text(node),
        criterion_text=node.text,
    )


class _Explanation:
    """Reasons, questions and trace of one evaluation, worked out when first asked for, by the
    explaining path (facts, every criterion's status, the facts that decided each)."""

    __slots__ = (
        "_facts",
        "_statuses",
        "compiled",
        "decider",
        "limit_text",
        "request",
        "within_limit",
    )

    def __init__(
        self,
        decider: Decider,
        request: AnyRequest,
        within_limit: bool | None,
        limit_text: str | None,
        facts: Facts | None = None,
    ) -> None:
        self.decider = decider
        self.request = request
        self._facts = facts
        self.compiled = facts is None
        self._statuses: Statuses | None = None
        self.within_limit = within_limit
        self.limit_text = limit_text

    @property
    def plan(self) -> Plan:
        return self.decider.plan

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            self._facts = Facts(self.request, self.decider.kb)
        return self._facts

    @property
    def statuses(self) -> Statuses:
        if self._statuses is None:
            if self.compiled:
                # Decided by the compiled path: its statuses, from the request directly.
                answers = self.request.answers or {}
                self._statuses = self.decider.compiled.statuses(self.request, answers)
            else:
                self._statuses = self.plan.evaluate(self.facts)
        return self._statuses

    # Reasons and questions depend on the statuses alone (and the quantity limit): the few
    # hundred combinations a policy meets are worked out once each, then shared (they are frozen).
    def reasons(self) -> list[Reason]:
        key = (self.statuses, self.within_limit, self.limit_text)
        memo = self.decider.reasons_memo
        got = memo.get(key)
        if got is None:
            got = _remember(memo, key, tuple(self._reasons()))
        return list(got)

    def _reasons(self) -> list[Reason]:
        st = self.plan.by_id(self.statuses)
        out = [
            Reason(id=n.id, text=n.text, status=STATUS_NAMES[st[n.id]])
            for n in deciding_nodes(self.plan.root, st)
        ]
        if self.within_limit is not None:
            d = self.decider
            status: StatusName = "met" if self.within_limit else "not_met"
            out.append(Reason(id=d.limit_id, text=f"Quantity {self.limit_text}", status=status))
        return out

    def dumped(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        key = (self.statuses, self.within_limit, self.limit_text)
        memo = self.decider.dumped_memo
        got = memo.get(key)
        if got is None:
            reasons = [{"id": r.id, "text": r.text, "status": r.status} for r in self.reasons()]
            missing = [
                {"id": q.id, "text": q.text, "criterion_text": q.criterion_text}
                for q in self.missing()
            ]
            got = _remember(memo, key, (reasons, missing))
        return got

    def missing(self) -> list[Question]:
        statuses = self.statuses
        if statuses[0] is not None:
            return []
        memo = self.decider.missing_memo
        got = memo.get(statuses)
        if got is None:
            st = self.plan.by_id(statuses)
            found = tuple(question_for(n) for n in open_questions(self.plan.root, st))
            got = _remember(memo, statuses, found)
        return list(got)

    def trace(self) -> TraceNode:
        return self.plan.trace(self.facts, self.statuses)

    def trace_dump(self) -> dict[str, Any]:
        return self.plan.trace_dump(self.facts, self.statuses)


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(memo) >= 65536:
        memo.clear()
    memo[key] = value
    return value


class Decider:
    """Turns one plan's statuses into determinations; what depends on the policy only is
    prepared once here."""

    def __init__(
        self,
        policy: Policy,
        kind: Kind,
        plan: Plan,
        kb: Knowledge,
        own: str,
        plan_name: str | None = None,
        compiled: CompiledPlan | None = None,
    ) -> None:
        """``compiled``: the plan's compiled criteria when another version shares them (and
        with them the statuses they remember)."""
        self.plan = plan
        self.kb = kb
        self.policy = policy
        self.strengths = frozenset(policy.drug.strengths_mg)
        self.compiled = compiled if compiled is not None else CompiledPlan(plan, kb, own)
        self.kind = kind
        self.limits: Limits = getattr(policy.limits, kind)
        self.ref = PolicyRef(
            number=policy.number,
            title=policy.title,
            effective_date=policy.effective_date,
            requirements=kind,
            plan=plan_name or policy.plan,
        )
        self.limit_id = f"limits.{kind}.quantity"
        # Attestation keys a request may send: the policy's, and topic keys once checked.
        self.known_attestations: set[str] = set(plan.attestation_keys)
        self.months = self.limits.duration.months
        self.duration_text = self.limits.duration.text
        # strength -> (the limit's wording, the daily cap); the daily dose requested -> as
        # shown; (that dose, strength, start) -> what an approval gives (the decision, its
        # authorization, the dose, within the limit, the wording), for both paths
        self._caps: dict[float, tuple[str | None, float | None, int | float | None]] = {}
        self._doses: dict[float, int | float] = {}
        self._approvals: dict[tuple[float, float, dt.date], _Approval] = {}
        self.reasons_memo: dict[tuple[Statuses, bool | None, str | None], tuple[Reason, ...]] = {}
        self.missing_memo: dict[Statuses, tuple[Question, ...]] = {}
        self.dumped_memo: dict[
            tuple[Statuses, bool | None, str | None],
            tuple[list[dict[str, Any]], list[dict[str, Any]]],
        ] = {}
        # The compiled path, a validated request to its determination in one call (the
        # generated sources kept for reading, by variant): decide_fast for the fast validator's
        # Structs, each criterion's status remembered per distinct list; decide_request for any
        # validated request; decide_answered for one with direct answers.
        self.capped = self._capped()
        self.sources: dict[str, str] = {}
        self.decide_fast = self._generate(answered=False, memo=True)
        self.decide_request = self._generate(answered=False, memo=False)
        self.decide_answered = self._generate(answered=True, memo=False)

    def _cap(self, strength_mg: float) -> tuple[str | None, float | None, int | float | None]:
        """The limit's wording, the daily cap, and the cap as shown (None: no limit)."""
        got = self._caps.get(strength_mg)
        if got is None:
            q = self.limits.quantity_for(strength_mg)
            cap = max_daily_dose_mg(self.limits, strength_mg)
            got = (q.text if q else None, cap, None if cap is None else _number(cap))
            if len(self._caps) < 1024:
                self._caps[strength_mg] = got
        return got

    def cap(self, strength_mg: float) -> tuple[str | None, float | None, int | float | None]:
        """The quantity limit's wording, the daily cap, and the cap as shown, for a strength
        (None: no limit)."""
        return self._cap(strength_mg)

    def _capped(self) -> dict[float, tuple[float, str | None, dict[dt.date, Authorization], Any]]:
        """For each strength the policy lists and caps: the cap with the tolerance approvals
        allow, the limit's wording, and the authorizations granted from each start date, with
        what makes one (shared by the strengths with the same cap and wording). The compiled
        path approves these by a lookup on the date alone, where _approval remembers each
        dose, strength and start."""
        grants: dict[tuple[int | float, str | None], tuple[dict[dt.date, Authorization], Any]] = {}
        capped = {}
        for strength in self.strengths:
            text, cap, cap_shown = self._cap(strength)
            if cap is None or cap_shown is None:
                continue
            if (cap_shown, text) not in grants:
                grants[(cap_shown, text)] = self._grants(cap_shown, text)
            capped[strength] = (cap + _TOLERANCE, text, *grants[(cap_shown, text)])
        return capped

    def _grants(
        self, cap_shown: int | float, text: str | None
    ) -> tuple[dict[dt.date, Authorization], Callable[[dt.date], Authorization]]:
        memo: dict[dt.date, Authorization] = {}

        def grant(start: dt.date) -> Authorization:
            """As _approval grants it for a dose under this cap, from ``start``."""
            got: Authorization = _remember(memo, start, self._grant(start, cap_shown, text))
            return got

        return memo, grant

    def _grant(self, start: dt.date, dose: int | float, text: str | None) -> Authorization:
        """The authorization of an approval from ``start`` for ``dose`` a day."""
        return Authorization(
            start, authorization_end(start, self.months), dose, text, self.duration_text
        )

    def _dose(self, requested: float) -> int | float:
        shown: int | float = _remember(self._doses, requested, _number(requested))
        return shown

    def _approval(self, key: tuple[float, float, dt.date]) -> _Approval:
        """What approving gives for a daily dose requested, a strength and a start."""
        requested, strength, start = key
        text, cap, cap_shown = self._cap(strength)
        within = None if cap is None else requested <= cap + _TOLERANCE
        decision: Decision = "partially_approved" if within is False else "approved"
        shown = _number(requested)
        authorization = self._grant(start, shown if cap_shown is None else cap_shown, text)
        got: _Approval = _remember(
            self._approvals, key, (decision, authorization, shown, within, text)
        )
        return got

    def explanation(
        self, request: AnyRequest, within: bool | None, limit_text: str | None
    ) -> _Explanation:
        """What explains a compiled decision, made when a determination's reasons, questions or
        trace are first read."""
        return _Explanation(self, request, within, limit_text)

    def check(self, request: AnyRequest) -> None:
        """Refuse a strength the drug does not come in, an answer to a question this policy
        does not ask, and an attestation it does not ask for."""
        strength = request.medication.strength_mg
        policy = self.policy
        if self.strengths and strength not in self.strengths:
            listed = ", ".join(f"{s:g}" for s in policy.drug.strengths_mg)
            raise RequestError(
                "medication.strength_mg",
                f"{strength:g} mg is not a strength of {policy.drug.brand} ({listed} mg)",
            )
        plan = self.plan
        for qid in request.answers or ():
            if qid not in plan.answerable:
                raise RequestError(
                    f"answers.{qid}",
                    f"not a question of the {self.kind} requirements of policy {policy.number}",
                )
        known = self.known_attestations
        for key in request.attestations or ():
            if key in known:
                continue
            topics = self.kb.attestation_parts(key)
            if all(t in self.kb.attestation_topics for t in topics):
                if len(known) < 4096:
                    known.add(key)  # a topic-by-topic key: checked once
            else:
                asked = ", ".join(sorted(plan.attestation_keys)) or "none"
                raise RequestError(
                    f"attestations.{key}",
                    f"not an attestation policy {policy.number} asks for (it asks for: {asked})",
                )

    def _checked(self, request: AnyRequest) -> Determination:
        """The compiled path for a request that needs its strength, answers or attestations
        checked first (the generated function sends them here)."""
        self.check(request)
        return self.decide_answered(request)

    def decide_explaining(self, request: AnyRequest) -> Determination:
        """The explaining path, checks included: the reference the compiled one is held to."""
        self.check(request)
        return self.decide(Facts(request, self.kb))

    def _generate(self, answered: bool, memo: bool) -> Callable[[AnyRequest], Determination]:
        """One function from a validated request to its determination: the checks a request
        rarely needs (a strength, answers, attestations the policy does not list) sent aside,
        the plan inlined with each group stopping at its first settling child, then the
        decision, its basis and its authorization. The explanation is left for first read."""
        compiled = self.compiled
        env: dict[str, Any] = {
            "_D": Determination,
            "_REF": self.ref,
            "_DEC": self,
            "_STRENGTHS": self.strengths,
            "_checked": self._checked,
            "_approvals": self._approvals,
            "_approval": self._approval,
            "_doses": self._doses,
            "_dose": self._dose,
        }
        head = ["def decide(r):", "    _m = r.medication", "    _st = _m.strength_mg"]
        if answered:
            head.append("    a = r.answers or {}")
        else:
            sent_aside = ["r.answers"]
            if 0 < len(self.strengths) <= 4:
                # A few strengths: compared one by one (as floats), cheaper than hashing one.
                unlisted = " and ".join(f"_st != {float(x)!r}" for x in sorted(self.strengths))
                sent_aside.append(f"({unlisted})")
            elif self.strengths:
                sent_aside.append("_st not in _STRENGTHS")
            # Attestations the policy asks for and no other key (as many keys as are found);
            # any other key, even one check() accepts, is sent aside.
            found = " + ".join(f"({k!r} in _g)" for k in sorted(self.plan.attestation_keys))
            sent_aside.append(f"((_g := r.attestations) and len(_g) != {found or 0})")
            head.append(f"    if {' or '.join(sent_aside)}:")
            head.append("        return _checked(r)")
        body, status = compiled.inline(env, answered, memo)
        investigational = compiled.investigational(env, answered, memo)
        capped = ""
        if self.capped:
            env["_CAPPED"] = self.capped
            capped = """
        _c = _CAPPED.get(_st)
        if _c is not None:
            _a = _c[2].get(_d := r.date_of_service) or _c[3](_d)
            _shown = _doses.get(_q) or _dose(_q)
            if _q <= _c[0]:
                return _D("approved", None, _REF, _a, _shown, "criteria_met", _DEC, r, True, _c[1])
            return _D(
                "partially_approved", None, _REF, _a, _shown, "criteria_met", _DEC, r, False, _c[1]
            )"""
        tail = f"""
    _q = _st * _m.quantity / _m.days_supply
    if {status} is True:{capped}
        _g = _approvals.get(_k := (_q, _st, r.date_of_service)) or _approval(_k)
        return _D(_g[0], None, _REF, _g[1], _g[2], "criteria_met", _DEC, r, _g[3], _g[4])
    _shown = _doses.get(_q) or _dose(_q)
    if {status} is None:
        return _D("pended", None, _REF, None, _shown, None, _DEC, r)
    _basis = "investigational" if {investigational} else "criteria_not_met"
    return _D("denied", _basis, _REF, None, _shown, None, _DEC, r)
"""
        source = "\n".join(head + body) + tail
        variant = "answered" if answered else "memo" if memo else "request"
        name = f"<decide {self.ref.number} {self.kind} {variant}>"
        try:
            source = bound_source(source, env, "decide", name)
            code = compile(source, name, "exec")
        except (SyntaxError, RecursionError):
            # Criteria nested deeper than Python nests blocks (20 groups): the explaining path
            # decides this plan, as exactly and more slowly.
            return self.decide_explaining
        exec(code, env)
        self.sources[variant] = source
        decide: Callable[[AnyRequest], Determination] = env["decide"]
        return decide

    def denial_basis(self, facts: Facts) -> DenialBasis:
        """Investigational when none of the listed indications matches the diagnosis."""
        if self.plan.diagnosis_matches_none(facts):
            return "investigational"
        return "criteria_not_met"

    def authorize(self, request: AnyRequest) -> Authorization:
        """The authorization the policy's limits allow for this request, whatever its criteria
        say: what a reviewer's overturned denial grants."""
        med = request.medication
        requested = med.strength_mg * med.quantity / med.days_supply
        q = self.limits.quantity_for(med.strength_mg)
        cap = max_daily_dose_mg(self.limits, med.strength_mg)
        start = request.date_of_service
        return Authorization(
            start=start,
            end=authorization_end(start, self.limits.duration.months),
            max_daily_dose_mg=_number(min(requested, cap) if cap is not None else requested),
            quantity_limit=q.text if q else None,
            duration=self.limits.duration.text,
        )

    def decide(self, facts: Facts) -> Determination:
        overall = self.plan.decide(facts)
        request = facts.request
        med = request.medication
        requested = med.strength_mg * med.quantity / med.days_supply
        authorization = None
        basis: DenialBasis | None = None
        within: bool | None = None
        limit_text: str | None = None
        decision: Decision
        if overall is True:
            decision, authorization, _, within, limit_text = self._approval(
                (requested, med.strength_mg, request.date_of_service)
            )
        elif overall is False:
            decision = "denied"
            basis = self.denial_basis(facts)
        else:
            decision = "pended"
        return Determination(
            decision,
            basis,
            self.ref,
            authorization,
            _number(requested),
            "criteria_met" if authorization is not None else None,
            _explanation=_Explanation(self, request, within, limit_text, facts),
        )
