"""The Engine: the built-in (or given) policies, compiled once, deciding requests."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from priorauth.determination import Authorization, Determination, Question
from priorauth.engine import continuity
from priorauth.engine.compiled import CompiledPlan
from priorauth.engine.decide import Decider, Kind, question_for
from priorauth.engine.plan import Plan
from priorauth.errors import NoPolicyError, PolicyError
from priorauth.policy.load import builtin_policies
from priorauth.policy.model import Policy
from priorauth.policy.tables import Knowledge, load_knowledge, norm
from priorauth.request import (
    TEXT_LIMIT,
    AnyRequest,
    FastRequest,
    Request,
    read_dict,
    read_json,
    read_request,
)

_WORDS = re.compile(r"[a-z0-9][a-z0-9-]*")
# The plan of the built-in policies, and of a request that names none, unless the deployment
# says otherwise (Engine(default_plan=...)).
DEFAULT_PLAN = "fep"
KINDS: tuple[Kind, ...] = ("initial", "renewal")


class Engine:
    """Decides prior-authorization requests against versioned policies.

    ``Engine()`` loads the built-in policies; ``Engine(policies=[...])`` decides against the given
    ones only.
    """

    def __init__(
        self,
        policies: Iterable[Policy] | None = None,
        knowledge: Knowledge | None = None,
        *,
        compiled: bool = True,
        default_plan: str = DEFAULT_PLAN,
    ) -> None:
        """``compiled=False`` decides by the explaining path instead of the compiled functions:
        slower, and the reference the differential test holds the compiled path to."""
        self.kb = knowledge or load_knowledge()
        self.compiled = compiled
        # A policy without a plan, and a request that names none, are the deployment's.
        self.default_plan = default_plan
        self.policies: list[Policy] = sorted(
            builtin_policies() if policies is None else policies,
            key=lambda p: (p.number, p.effective_date),
        )
        self._by_name: dict[str, list[Policy]] = {}
        self._versions_by_written: dict[str, list[Policy]] = {}
        self._deciders: dict[tuple[str, str, dt.date, str], Decider] = {}
        plans: dict[tuple[str, str], tuple[Plan, CompiledPlan]] = {}
        for p in self.policies:
            versions = self._by_name.setdefault(norm(p.drug.brand), [])
            mine = self.plan_of(p)
            if any(
                v.effective_date == p.effective_date and self.plan_of(v) == mine for v in versions
            ):
                raise PolicyError(
                    p.title,
                    "effective_date",
                    f"two versions of policy {p.number} of plan {mine} take effect on "
                    f"{p.effective_date}",
                )
            versions.append(p)
            self._by_name[norm(p.drug.generic)] = versions
            own = self.kb.drug_aliases.get(norm(p.drug.generic), norm(p.drug.generic))
            for kind in KINDS:
                criteria = getattr(p.requirements, kind)
                # Versions whose criteria are unchanged share one plan and its compiled form:
                # built once, and what it remembers serves every such version.
                same = (own, criteria.model_dump_json())
                if same not in plans:
                    plan = Plan(criteria, self.kb, own)
                    plans[same] = (plan, CompiledPlan(plan, self.kb, own))
                plan, compiled_plan = plans[same]
                key = (mine, p.number, p.effective_date, kind)
                self._deciders[key] = Decider(p, kind, plan, self.kb, own, mine, compiled_plan)
        # (plan, name as written) -> the drug's versions by effective date, ready for bisect;
        # and by name alone for requests that name no plan (the deployment's)
        self._choosers: dict[tuple[str, str], _Versions] = {}
        self._default_choosers: dict[str, _Versions] = {}
        self._evaluate_validated = self._entry("evaluate_model")
        # The entry points as closures over the engine's tables, set on the instance: each
        # runs once a request, and a closure's variables are read faster than attributes, with
        # no method call between. A subclass that overrides evaluate_model keeps the methods,
        # which call its override; one that overrides another entry point keeps that one.
        if type(self).evaluate_model is Engine.evaluate_model:
            vars(self)["evaluate_model"] = self._evaluate_validated
            for name in ("evaluate", "evaluate_json"):
                if getattr(type(self), name) is getattr(Engine, name):
                    vars(self)[name] = self._entry(name)

    # --- choosing the policy ------------------------------------------------------------

    def versions(self, name: str) -> list[Policy]:
        """Every version of the policy for a drug (brand or generic name, or a policy number)."""
        cached = self._versions_by_written.get(name)
        if cached is not None:
            return cached
        found = self._versions(name)
        # At most 4096 names, of at most a contract name's length: a FHIR body's free text may be
        # megabytes long, and is looked up every time rather than kept.
        if len(self._versions_by_written) < 4096 and len(name) <= TEXT_LIMIT:
            self._versions_by_written[name] = found
        return found

    def _versions(self, name: str) -> list[Policy]:
        key = norm(name)
        if key in self._by_name:
            return self._by_name[key]
        numbered = [p for p in self.policies if p.number == name.strip()]
        if numbered:
            return numbered
        found = {id(v): v for w in _WORDS.findall(key) for v in self._by_name.get(w, [])}
        by_number = {(self.plan_of(p), p.number) for p in found.values()}
        if by_number and len(by_number) == len({plan for plan, _ in by_number}):  # one a plan
            return sorted(found.values(), key=lambda p: p.effective_date)
        covered = ", ".join(sorted({p.drug.brand for p in self.policies})) or "none"
        raise NoPolicyError(
            "medication.name", f"no policy covers {name!r} (policies for: {covered})"
        )

    def plan_of(self, policy: Policy) -> str:
        return policy.plan or self.default_plan

    def policy_for(self, request: AnyRequest) -> Policy:
        """The version of the drug's policy of the request's plan in force on the date of
        service."""
        return self._version(request).policy

    def _version(self, request: AnyRequest) -> _Version:
        return self._chooser(request).at(request.date_of_service)

    def _chooser(self, request: AnyRequest) -> _Versions:
        """The request's plan's versions of the drug's policy (made once for each drug name as
        written, and plan)."""
        plan = request.plan or self.default_plan
        name = request.medication.name
        chooser = self._choosers.get((plan, name))
        if chooser is None:
            every = self.versions(name)
            versions = [p for p in every if self.plan_of(p) == plan]
            if not versions:
                plans = ", ".join(sorted({self.plan_of(p) for p in every}))
                raise NoPolicyError(
                    "plan",
                    f"plan {plan!r} has no policy for {name!r} (plans with one: {plans})",
                )
            chooser = _Versions(versions, self._deciders, plan, self.compiled)
            if len(self._choosers) < 4096:
                self._choosers[(plan, name)] = chooser
        # The default plan's, for requests that name no plan, whoever asked for it first.
        if plan == self.default_plan and len(self._default_choosers) < 4096:
            self._default_choosers[name] = chooser
        return chooser

    def decider(self, policy: Policy, kind: str) -> Decider:
        return self._deciders[(self.plan_of(policy), policy.number, policy.effective_date, kind)]

    def plan(self, policy: Policy, kind: str) -> Plan:
        return self.decider(policy, kind).plan

    # --- deciding -------------------------------------------------------------------------

    def evaluate(self, request: Request | Mapping[str, Any] | str | bytes) -> Determination:
        """Decide a request given as a model, a dict, or JSON text or bytes."""
        if type(request) is dict:
            return self.evaluate_model(read_dict(request))
        if isinstance(request, Request):
            return self.evaluate_model(request)
        return self.evaluate_model(read_request(request))

    def evaluate_json(self, raw: str | bytes) -> Determination:
        if type(raw) is bytes or isinstance(raw, str):
            return self.evaluate_model(read_json(raw))
        return self.evaluate_model(read_request(raw))

    def evaluate_model(self, request: AnyRequest) -> Determination:
        """Decide a request already validated (a :class:`Request` or the fast validator's)."""
        return self._evaluate_validated(request)

    def _entry(self, name: str) -> Callable[[Any], Determination]:
        """``evaluate``, ``evaluate_json`` or ``evaluate_model`` as one function:
        the request read, the version in force chosen (as _version, the common cases without a
        search or a call) and the decider's function called, in one frame."""
        env: dict[str, Any] = {
            "defaults": self._default_choosers,
            "choosers": self._choosers,
            "choose": self._chooser,
            "FastRequest": FastRequest,
            "Request": Request,
            "read_dict": read_dict,
            "read_json": read_json,
            "read_request": read_request,
            "transition": self._continuity,
        }
        source = _ENTRY_SOURCE.format(name=name, read=_READ[name])
        exec(compile(source, f"<Engine.{name}>", "exec"), env)
        entry: Callable[[Any], Determination] = env[name]
        entry.__doc__ = getattr(Engine, name).__doc__
        return entry

    def _continuity(self, request: AnyRequest, version: _Version) -> Determination:
        """A request naming a prior authorization: decided as usual, then the authorization
        honored for continuity of care where it can be, with a reason either way."""
        usual = version.initial(request) if request.kind == "initial" else version.renewal(request)
        plan = request.plan or self.default_plan
        decider = version.deciders[request.kind]
        return continuity.decide(self.kb, plan, decider, request, usual)

    def authorize(self, request: AnyRequest) -> Authorization:
        """The authorization the policy's limits allow (for a denial a reviewer overturns)."""
        version = self._version(request)
        return version.deciders[request.kind].authorize(request)

    def questions(self, policy: Policy, kind: str = "initial") -> list[Question]:
        """Every question the policy's requirements can ask, in document order."""
        plan = self.plan(policy, kind)
        # an ambiguous group is asked as a whole when its items are known and disagree
        return [question_for(n) for n in plan.nodes.values() if n.id in plan.answerable]


# What each entry point does first: read the request as the method does.
_READ = {
    "evaluate": """    if type(request) is dict:
        request = read_dict(request)
    elif not isinstance(request, Request):
        request = read_request(request)
""",
    "evaluate_json": """    if type(request) is bytes or isinstance(request, str):
        request = read_json(request)
    else:
        request = read_request(request)
""",
    "evaluate_model": "",
}
_ENTRY_SOURCE = """def {name}(request):
{read}    if request.plan is None:
        chooser = defaults.get(request.medication.name)
    else:
        chooser = choosers.get((request.plan, request.medication.name))
    if chooser is None:
        chooser = choose(request)
    day = request.date_of_service
    version = chooser.latest if day >= chooser.latest_from else chooser.at(day)
    if request.prior_authorization is not None:
        return transition(request, version)
    if type(request) is FastRequest:
        try:
            if request.kind == "initial":
                return version.fast_initial(request)
            return version.fast_renewal(request)
        except TypeError:
            pass  # a Struct built by hand, its lists not tuples: no memo can hold it
    if request.kind == "initial":
        return version.initial(request)
    return version.renewal(request)
"""


class _Version:
    """One policy version with what deciding under it needs: a validated request of each kind
    to its determination in one call (``fast_*`` for the fast validator's Structs)."""

    __slots__ = ("deciders", "fast_initial", "fast_renewal", "initial", "policy", "renewal")

    def __init__(self, policy: Policy, deciders: dict[str, Decider], compiled: bool) -> None:
        self.policy = policy
        self.deciders = deciders
        first, then = deciders["initial"], deciders["renewal"]
        self.initial: Callable[[AnyRequest], Determination] = (
            first.decide_request if compiled else first.decide_explaining
        )
        self.renewal: Callable[[AnyRequest], Determination] = (
            then.decide_request if compiled else then.decide_explaining
        )
        self.fast_initial = first.decide_fast if compiled else self.initial
        self.fast_renewal = then.decide_fast if compiled else self.renewal


# Later than any date of service: a chooser whose latest version cannot be taken without a look.
_NEVER = dt.date.max


class _Versions:
    """A drug's versions by effective date: the one in force on a date by bisection, so that
    choosing among a hundred versions costs what choosing among two does; a date on or after
    the latest version's effective date (the common case) takes it without a search."""

    __slots__ = ("dates", "first", "latest", "latest_from", "unsorted", "versions")

    def __init__(
        self,
        policies: list[Policy],
        deciders: dict[tuple[str, str, dt.date, str], Decider],
        plan: str,
        compiled: bool,
    ) -> None:
        self.first = policies[0]
        self.dates = [p.effective_date for p in policies]
        self.versions = [
            _Version(
                p, {k: deciders[(plan, p.number, p.effective_date, k)] for k in KINDS}, compiled
            )
            for p in policies
        ]
        # Two policy numbers for one drug in one plan: the last listed in force, as policy_for
        # always chose.
        self.unsorted = self.dates != sorted(self.dates)
        self.latest = self.versions[-1]
        self.latest_from = _NEVER if self.unsorted else self.dates[-1]

    def at(self, day: dt.date) -> _Version:
        if self.unsorted:
            in_force = [v for v in self.versions if v.policy.effective_date <= day]
            if in_force:
                return in_force[-1]
            i = 0
        else:
            i = bisect_right(self.dates, day)
        if not i:
            first = self.first
            raise NoPolicyError(
                "date_of_service",
                f"no version of policy {first.number} ({first.title}) is in force on {day}; "
                f"the earliest takes effect on {first.effective_date}",
            )
        return self.versions[i - 1]
