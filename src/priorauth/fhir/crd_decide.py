"""What CRD asserts about one order: the policy in force for its drug, the engine's decision on
the chart, and the card a prescriber reads beside it (crd.py puts them in the hook's answer)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from priorauth.errors import PriorAuthError
from priorauth.fhir.coverage_info import Assertion
from priorauth.fhir.forms import order_policy, questionnaire_id
from priorauth.fhir.mapping import (
    Chart,
    Entry,
    codings,
    medication_concept,
    to_request,
)
from priorauth.fhir.models import CoverageAssertion
from priorauth.fhir.outcome import FhirError
from priorauth.policy.model import Policy
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

CARD_TOPIC = {
    "system": "http://terminology.hl7.org/CodeSystem/cdshooks-card-type",
    "code": "coverage-info",
    "display": "Coverage Information",
}


def card(
    summary: str,
    detail: str,
    indicator: str = "info",
    links: list[dict[str, str]] | None = None,
    label: str = "priorauth",
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:139],
        "indicator": indicator,
        "source": {"label": label, "topic": CARD_TOPIC},
    }
    if detail.strip():  # CDS Hooks: an optional element is left out, never empty
        card["detail"] = detail
    if links:
        card["links"] = links
    return card


def policy_of(
    service: Service, chart: Chart, order: Entry, when: dt.date
) -> tuple[str, Policy | None]:
    """The drug's name in the order, and the policy in force for it (None: none covers it)."""
    if order.resource.get("resourceType") != "MedicationRequest":
        return "", None
    return order_policy(service, chart, order, when)


def outside_policies(what: str, when: dt.date) -> Assertion:
    # Why covered + no-auth: priorauth answers prior authorization under the plan's drug
    # policies, and none of them names this order. In CRD, "covered" means the plan's regular
    # coverage applies (its usual limits, no promise of payment), which is all that is known
    # here. "not-covered" would tell the prescriber the plan pays nothing, and could not say
    # no-auth (crd-ci-q2); "conditional" asks for a performer, place or time (info-needed) that
    # would change nothing; "indeterminate" is for failures (CRD resp-43).
    return Assertion(
        "covered",
        "no-auth",
        f"No prior-authorization policy of this plan covers {what} on {when.isoformat()}: no "
        "prior authorization is required by these policies; the plan's usual benefit rules "
        "apply.",
    )


def unnamed_drug(chart: Chart, order: Entry) -> Assertion:
    # A drug known only by a code cannot be matched to the policies (they name drugs, and no
    # code table is kept): saying no-auth could let a drug that needs authorization through.
    concept, _ = medication_concept(chart, order)
    codes = ", ".join(f"{c.get('system', '?')}|{c.get('code', '?')}" for c in codings(concept))
    ref = (order.resource.get("medicationReference") or {}).get("reference")
    named_by = f"only by the code {codes}" if codes else f"by {ref or 'nothing'}, not in the chart"
    return Assertion(
        "indeterminate",
        "indeterminate",
        f"The order names its drug {named_by}; priorauth matches drug names (the coding's "
        "display or the text) to the policies. Send the name to learn whether prior "
        "authorization is required.",
    )


def decide(
    service: Service,
    who: Principal,
    data: dict[str, Any],
    chart: Chart,
    order: Entry,
    coverage: Entry,
    when: dt.date,
    assertion_id: str,
    base: str,
    policy: Policy,
) -> tuple[Assertion, dict[str, Any] | None]:
    pid = data["context"].get("patientId")
    patient = chart.resolve(f"Patient/{pid}") if isinstance(pid, str) and pid else None
    patient = patient or chart.first("Patient")
    qurl = f"{base}/fhir/Questionnaire/{questionnaire_id(policy, 'initial')}"
    link = [{"label": "Prior-authorization questionnaire (DTR)", "url": qurl, "type": "absolute"}]
    title = f"{policy.title} ({policy.number})"
    try:
        mapped = to_request(
            chart, order, service.engine, date_of_service=when, patient=patient, coverage=coverage
        )
        det = service.engine.evaluate_model(mapped.request)
    except (FhirError, PriorAuthError) as exc:
        detail = exc.diagnostics if isinstance(exc, FhirError) else str(exc)
        return (
            Assertion(
                "covered",
                "auth-needed",
                f"Prior authorization is required under {title}; the chart does not settle it: "
                f"{detail}",
                questionnaire=qurl,
            ),
            card(f"Prior authorization needed: {title}", detail, "info", link),
        )
    if det.decision == "approved":
        with service.db.session() as s:
            s.add(
                CoverageAssertion(
                    id=assertion_id,
                    org=who.org,
                    member_id=mapped.request.member.id,
                    drug=policy.title,
                    decision=det.decision,
                    request=mapped.request.model_dump(mode="json", exclude_none=True),
                    created_at=service.clock(),
                )
            )
        met = "; ".join(r.text for r in det.reasons if r.status == "met")[:900]
        summary = f"The chart meets {title}; no prior-authorization request is needed."
        headline = f"{title}: the chart meets the policy"
        if det.approval_basis == "continuity_of_care":
            summary = (
                f"Another payer's prior authorization is honored under {title} for continuity "
                "of care; no prior-authorization request is needed."
            )
            headline = f"{title}: another payer's authorization is honored"
        # The authorization number is the recorded assertion's id: PAS decides a Claim that
        # carries it on the recorded request (pas._with_assertion).
        return (
            Assertion("covered", "satisfied", summary, satisfied_pa_id=assertion_id),
            card(headline, f"Criteria met: {met}"),
        )
    if det.decision == "denied" and det.denial_basis == "investigational":
        reason = "; ".join(r.text for r in det.reasons)[:900]
        return (
            Assertion("not-covered", None, f"Investigational under {title}: {reason}"),
            card(f"Not covered: investigational under {title}", reason, "warning"),
        )
    if det.decision == "partially_approved":
        limit = det.authorization.quantity_limit if det.authorization else None
        text = (
            f"The requested {det.requested_daily_dose_mg} mg per day is over the limit "
            f"({limit}); an authorization would cut the quantity."
        )
        return (
            Assertion(
                "covered", "auth-needed", f"Prior authorization is required under {title}: {text}"
            ),
            card(f"{title}: quantity over the limit", text, "warning"),
        )
    if det.decision == "pended":
        questions = "\n".join(f"- {q.text}" for q in det.missing)
        return (
            Assertion(
                "covered",
                "auth-needed",
                f"Prior authorization is required under {title}; questions remain.",
                questionnaire=qurl,
            ),
            card(
                f"Prior authorization needed: {title}",
                f"Questions the chart does not answer:\n{questions}",
                "info",
                link,
            ),
        )
    failed = "; ".join(r.text for r in det.reasons if r.status == "not_met")[:900]
    return (
        Assertion(
            "covered",
            "auth-needed",
            f"Prior authorization is required under {title}; from the chart, not met: {failed}",
            questionnaire=qurl,
        ),
        card(
            f"{title}: criteria not met from the chart",
            f"Not met: {failed}. A request goes to a pharmacist before any denial.",
            "warning",
            link,
        ),
    )
