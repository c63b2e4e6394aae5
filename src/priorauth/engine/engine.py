"""The Engine: the built-in (or given) policies, compiled once, deciding requests."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from priorauth.determination import Authorization, Determination, Question
from priorauth.engine.decide import Decider, Kind, question_for
from priorauth.engine.facts import Facts
from priorauth.engine.plan import Plan
from priorauth.errors import NoPolicyError, PolicyError, RequestError
from priorauth.policy.load import builtin_policies
from priorauth.policy.model import Policy
from priorauth.policy.tables import Knowledge, load_knowledge, norm
from priorauth.request import Request, parse_request

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
        default_plan: str = DEFAULT_PLAN,
    ) -> None:
        self.kb = knowledge or load_knowledge()
        # A policy without a plan, and a request that names none, are the deployment's.
        self.default_plan = default_plan
        self.policies: list[Policy] = sorted(
            builtin_policies() if policies is None else policies,
            key=lambda p: (p.number, p.effective_date),
        )
        self._by_name: dict[str, list[Policy]] = {}
        self._versions_by_written: dict[str, list[Policy]] = {}
        self._deciders: dict[tuple[str, str, dt.date, str], Decider] = {}
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
                plan = Plan(getattr(p.requirements, kind), self.kb, own)
                key = (mine, p.number, p.effective_date, kind)
                self._deciders[key] = Decider(p, kind, plan, mine)

    # --- choosing the policy ------------------------------------------------------------

    def versions(self, name: str) -> list[Policy]:
        """Every version of the policy for a drug (brand or generic name, or a policy number)."""
        cached = self._versions_by_written.get(name)
        if cached is not None:
            return cached
        found = self._versions(name)
        if len(self._versions_by_written) < 4096:
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

    def policy_for(self, request: Request) -> Policy:
        """The version of the drug's policy of the request's plan in force on the date of
        service."""
        every = self.versions(request.medication.name)
        plan = request.plan or self.default_plan
        versions = [p for p in every if self.plan_of(p) == plan]
        if not versions:
            plans = ", ".join(sorted({self.plan_of(p) for p in every}))
            raise NoPolicyError(
                "plan",
                f"plan {plan!r} has no policy for {request.medication.name!r} "
                f"(plans with one: {plans})",
            )
        dos = request.date_of_service
        in_force = [p for p in versions if p.effective_date <= dos]
        if not in_force:
            first = versions[0]
            raise NoPolicyError(
                "date_of_service",
                f"no version of policy {first.number} ({first.title}) is in force on {dos}; "
                f"the earliest takes effect on {first.effective_date}",
            )
        return in_force[-1]

    def decider(self, policy: Policy, kind: str) -> Decider:
        return self._deciders[(self.plan_of(policy), policy.number, policy.effective_date, kind)]

    def plan(self, policy: Policy, kind: str) -> Plan:
        return self.decider(policy, kind).plan

    # --- deciding -------------------------------------------------------------------------

    def evaluate(self, request: Request | Mapping[str, Any] | str | bytes) -> Determination:
        """Decide a request given as a model, a dict, or JSON text."""
        return self.evaluate_model(parse_request(request))

    def evaluate_json(self, raw: str | bytes) -> Determination:
        return self.evaluate_model(parse_request(raw))

    def evaluate_model(self, request: Request) -> Determination:
        policy = self.policy_for(request)
        self._check_against(policy, request)
        return self.decider(policy, request.kind).decide(Facts(request, self.kb))

    def authorize(self, request: Request) -> Authorization:
        """The authorization the policy's limits allow (for a denial a reviewer overturns)."""
        policy = self.policy_for(request)
        return self.decider(policy, request.kind).authorize(request)

    def _check_against(self, policy: Policy, request: Request) -> None:
        strengths = policy.drug.strengths_mg
        strength = request.medication.strength_mg
        if strengths and strength not in strengths:
            listed = ", ".join(f"{s:g}" for s in strengths)
            raise RequestError(
                "medication.strength_mg",
                f"{strength:g} mg is not a strength of {policy.drug.brand} ({listed} mg)",
            )
        plan = self.plan(policy, request.kind)
        for qid in request.answers or ():
            if qid not in plan.leaf_ids:
                raise RequestError(
                    f"answers.{qid}",
                    f"not a question of the {request.kind} requirements of policy {policy.number}",
                )
        for key in request.attestations or ():
            topics = self.kb.attestation_parts(key)
            known = key in plan.attestation_keys or all(
                t in self.kb.attestation_topics for t in topics
            )
            if not known:
                asked = ", ".join(sorted(plan.attestation_keys)) or "none"
                raise RequestError(
                    f"attestations.{key}",
                    f"not an attestation policy {policy.number} asks for (it asks for: {asked})",
                )

    def questions(self, policy: Policy, kind: str = "initial") -> list[Question]:
        """Every question the policy's requirements can ask, in document order."""
        plan = self.plan(policy, kind)
        return [question_for(n) for n in plan.nodes.values() if n.condition is not None]
