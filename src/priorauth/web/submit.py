"""The submission form: a request for a policy drug, built from the request contract's fields,
with errors shown next to the field they are about."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from priorauth.policy.model import Policy
from priorauth.service.errors import Invalid
from priorauth.service.workflow import Service
from priorauth.web import rows
from priorauth.web.common import Visitor, page, posted, redirect, service_of, visitor

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]
EXTENTS = {
    "localized": "localized",
    "locally_advanced": "locally advanced",
    "metastatic": "metastatic",
}
BIOMARKER_ROWS = 2


class FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _drugs(service: Service) -> dict[str, Policy]:
    """Each drug's latest policy version, by brand name."""
    latest: dict[str, Policy] = {}
    for p in service.engine.policies:
        latest[p.drug.brand] = p  # policies are sorted by number and effective date
    return dict(sorted(latest.items()))


def _attestation_keys(service: Service, policy: Policy) -> list[str]:
    # From the policy model, not the engine's compiled plan: the workbench reads policies only
    # through their public shape.
    return sorted(_attestation_wording(policy))


def _attestation_wording(policy: Policy) -> dict[str, str]:
    """Each attestation's criterion in the policy's words: what the prescriber attests to."""
    out: dict[str, str] = {}
    for root in (policy.requirements.initial, policy.requirements.renewal):
        for node in root.walk():
            if node.condition is not None and node.condition.type == "attestation":
                out.setdefault(node.condition.key, node.text)
    return out


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return (value[-1] if isinstance(value, list) else str(value)).strip()


def _date(form: dict[str, Any], name: str) -> str:
    value = _text(form, name)
    if not value:
        raise FieldError(name, "required: a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise FieldError(name, f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _number(form: dict[str, Any], name: str, integer: bool = False) -> float | int:
    value = _text(form, name)
    if not value:
        raise FieldError(name, "required: a number")
    try:
        number = float(value)
    except ValueError:
        raise FieldError(name, f"{value!r} is not a number") from None
    if integer:
        if number != int(number):
            raise FieldError(name, "a whole number")
        return int(number)
    return int(number) if number == int(number) else number


def _flag(form: dict[str, Any], name: str) -> bool | None:
    return {"yes": True, "no": False}.get(_text(form, name))


def _therapies(form: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
    """One drug a line, optionally 'drug, months'; 'none' for none; empty when unknown."""
    text = _text(form, name)
    if not text:
        return None
    if text.lower() == "none":
        return []
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        drug, _, months = line.partition(",")
        item: dict[str, Any] = {"drug": drug.strip()}
        if months.strip():
            try:
                item["months"] = float(months.strip().removesuffix("months").strip())
            except ValueError:
                raise FieldError(
                    name, f"{line.strip()!r}: after the comma, the months it was given"
                ) from None
        out.append(item)
    return out


def build_request(form: dict[str, Any], policy: Policy, keys: list[str]) -> dict[str, Any]:
    """The request contract from the form, or FieldError naming the form field."""
    body: dict[str, Any] = {
        "kind": _text(form, "kind") or "initial",
        "urgency": _text(form, "urgency") or "standard",
        "date_of_service": _date(form, "date_of_service"),
        "member": {"id": _text(form, "member.id"), "birth_date": _date(form, "member.birth_date")},
        "medication": {
            "name": policy.drug.brand,
            "strength_mg": _number(form, "medication.strength_mg"),
            "quantity": _number(form, "medication.quantity"),
            "days_supply": _number(form, "medication.days_supply", integer=True),
        },
    }
    if not body["member"]["id"]:
        raise FieldError("member.id", "required: the member's identifier")
    if _text(form, "member.sex") in rows.SEXES:
        body["member"]["sex"] = _text(form, "member.sex")
    if _text(form, "medication.strength"):
        body["medication"]["strength"] = _text(form, "medication.strength")
    if _text(form, "medication.form") in rows.FORMS:
        body["medication"]["form"] = _text(form, "medication.form")
    prescriber = {k: _text(form, f"prescriber.{k}") for k in ("name", "npi")}
    if any(prescriber.values()):
        body["prescriber"] = {k: v for k, v in prescriber.items() if v}
    code = _text(form, "diagnoses[0].code")
    if code:
        diagnosis: dict[str, Any] = {"code": code}
        if _text(form, "diagnoses[0].histology"):
            diagnosis["histology"] = _text(form, "diagnoses[0].histology")
        if _text(form, "diagnoses[0].extent") in EXTENTS:
            diagnosis["extent"] = _text(form, "diagnoses[0].extent")
        if _flag(form, "diagnoses[0].resectable") is not None:
            diagnosis["resectable"] = _flag(form, "diagnoses[0].resectable")
        if _text(form, "diagnoses[0].severity") in rows.SEVERITIES:
            diagnosis["severity"] = _text(form, "diagnoses[0].severity")
        body["diagnoses"] = [diagnosis]
    biomarkers = []
    for i in range(BIOMARKER_ROWS):
        gene = _text(form, f"biomarkers[{i}].gene")
        if not gene:
            continue
        marker: dict[str, Any] = {
            "gene": gene,
            "result": _text(form, f"biomarkers[{i}].result") or "positive",
        }
        for part in ("alteration", "test"):
            if _text(form, f"biomarkers[{i}].{part}"):
                marker[part] = _text(form, f"biomarkers[{i}].{part}")
        if _flag(form, f"biomarkers[{i}].fda_approved") is not None:
            marker["fda_approved"] = _flag(form, f"biomarkers[{i}].fda_approved")
        biomarkers.append(marker)
    if biomarkers:
        body["biomarkers"] = biomarkers
    for name in ("prior_therapies", "concurrent_therapies"):
        therapies = _therapies(form, name)
        if therapies is not None:
            body[name] = therapies
    try:
        observations, trials = rows.observations(form), rows.trials(form)
    except rows.RowError as exc:
        raise FieldError(exc.field, exc.message) from None
    if observations:
        body["observations"] = observations
    if trials:
        body["step_therapy"] = trials
    attested = {k: True for k in keys if _text(form, f"attestations.{k}") == "yes"}
    if attested:
        body["attestations"] = attested
    status = {
        k: _flag(form, f"disease_status.{k}") for k in ("progression", "unacceptable_toxicity")
    }
    if any(v is not None for v in status.values()):
        body["disease_status"] = {k: v for k, v in status.items() if v is not None}
    prior = _prior_authorization(form)
    if prior is not None:
        body["prior_authorization"] = prior
    return body


def _prior_authorization(form: dict[str, Any]) -> dict[str, Any] | None:
    """Another payer's authorization, when any of its fields is filled: then all are needed."""
    names = [f"prior_authorization.{part}" for part in PRIOR_AUTHORIZATION_PARTS]
    if not any(_text(form, n) for n in names):
        return None
    out: dict[str, Any] = {}
    for part, name in zip(PRIOR_AUTHORIZATION_PARTS, names, strict=True):
        if part in ("start", "end"):
            out[part] = _date(form, name)
        elif not _text(form, name):
            raise FieldError(name, "required for a prior authorization from another payer")
        else:
            out[part] = _text(form, name)
    return out


PRIOR_AUTHORIZATION_PARTS = ("payer", "number", "drug", "start", "end")


def _form_field(field: str, form_names: list[str]) -> str:
    """The form field a contract error is about: the longest input name it starts with."""
    best = ""
    for name in form_names:
        if (field == name or field.startswith(name + ".") or field.startswith(name + "[")) and len(
            name
        ) > len(best):
            best = name
    return best or "form"


FORM_NAMES = [
    "kind",
    "urgency",
    "date_of_service",
    "member.id",
    "member.birth_date",
    "member.sex",
    "prescriber.name",
    "prescriber.npi",
    "medication.name",
    "medication.strength_mg",
    "medication.quantity",
    "medication.days_supply",
    "medication.strength",
    "medication.form",
    "diagnoses",
    "diagnoses[0].code",
    "diagnoses[0].histology",
    "diagnoses[0].extent",
    "diagnoses[0].resectable",
    "diagnoses[0].severity",
    *[
        f"biomarkers[{i}].{part}"
        for i in range(BIOMARKER_ROWS)
        for part in ("gene", "alteration", "result", "test", "fda_approved")
    ],
    "biomarkers",
    "prior_therapies",
    "concurrent_therapies",
    "attestations",
    "disease_status.progression",
    "disease_status.unacceptable_toxicity",
    "answers",
    *[f"prior_authorization.{part}" for part in PRIOR_AUTHORIZATION_PARTS],
    *rows.form_names(),
]


LABELS = {
    "date_of_service": "Date of service",
    "member.id": "Member id",
    "member.birth_date": "Member's date of birth",
    "prescriber.npi": "Prescriber's NPI",
    "medication.strength_mg": "Strength",
    "medication.quantity": "Quantity",
    "medication.days_supply": "Days supply",
    "diagnoses[0].code": "ICD-10-CM code",
    "prior_therapies": "Prior therapies",
    "concurrent_therapies": "Used together with",
    "attestations": "The prescriber attests",
    "prior_authorization.payer": "Payer that granted it",
    "prior_authorization.number": "Authorization number",
    "prior_authorization.drug": "Drug authorized",
    "prior_authorization.start": "Authorized from",
    "prior_authorization.end": "Authorized until",
    "medication.strength": "Amount per unit, as written",
    **{
        f"{r.name}[{i}].{p}": f"{r.noun.capitalize()} {i + 1}: {p.replace('_', ' ')}"
        for r in rows.ALL_ROWS
        for i in range(rows.MAX_ROWS)
        for p in r.parts
    },
}


def _form_page(
    request: Request,
    v: Visitor,
    policy: Policy | None,
    drugs: dict[str, Policy],
    keys: list[str],
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    today = service_of(request).clock().date()
    defaults = {
        "kind": "initial",
        "urgency": "standard",
        "date_of_service": today.isoformat(),
        "medication.days_supply": "30",
        "idempotency": str(uuid.uuid4()),
    }
    return page(
        request,
        "submit.html",
        {
            "title": "Submit a request",
            "policy": policy,
            "drugs": drugs,
            "keys": keys,
            "wording": _attestation_wording(policy) if policy else {},
            "form": {**defaults, **(form or {})},
            "errors": errors or {},
            "labels": LABELS,
            "extents": EXTENTS,
            "biomarker_rows": range(BIOMARKER_ROWS),
            "observation_rows": range(rows.count(form or {}, rows.OBSERVATION_ROWS)),
            "trial_rows": range(rows.count(form or {}, rows.TRIAL_ROWS)),
            "outcomes": rows.OUTCOMES,
            "dose_forms": rows.FORMS,
            "sexes": rows.SEXES,
            "severities": rows.SEVERITIES,
            "nav": "submit",
        },
        status=status,
        v=v,
    )


@router.get("/submit")
def submit_form(request: Request, v: Signed, drug: str = "") -> Response:
    service = service_of(request)
    if v.who.role not in ("submitter", "admin"):
        raise Invalid("Submitting a request needs the submitter or admin role.")
    drugs = _drugs(service)
    policy = drugs.get(drug)
    keys = _attestation_keys(service, policy) if policy else []
    return _form_page(request, v, policy, drugs, keys)


@router.post("/submit")
async def submit(request: Request, v: Signed) -> Response:
    service = service_of(request)
    form = await posted(request, v.csrf)
    drugs = _drugs(service)
    policy = drugs.get(_text(form, "medication.name"))
    if policy is None:
        return _form_page(
            request, v, None, drugs, [], errors={"form": "Choose the drug first."}, status=422
        )
    keys = _attestation_keys(service, policy)
    changed = rows.edited(form)
    if changed is not None:
        return _form_page(request, v, policy, drugs, keys, changed)
    try:
        body = build_request(form, policy, keys)
        case, _ = await run_in_threadpool(
            service.submit, v.who, body, _text(form, "idempotency") or None
        )
    except FieldError as exc:
        errors = {exc.field: exc.message}
        return _form_page(request, v, policy, drugs, keys, form, errors, 422)
    except Invalid as exc:
        field = _form_field(exc.field or "", FORM_NAMES)
        message = exc.detail
        if exc.field and message.startswith(exc.field + ": "):
            message = message.removeprefix(exc.field + ": ")
        return _form_page(request, v, policy, drugs, keys, form, {field: message}, 422)
    return redirect(f"/ui/cases/{case.id}?done=submitted")
