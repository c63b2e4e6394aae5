"""Policies: the list of policies and versions, one version's criteria, limits, history and
questions, and the difference between two versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from priorauth.importer.review import diff
from priorauth.policy.model import Criterion, Limits, Policy
from priorauth.service.errors import NotFound
from priorauth.web.common import Visitor, page, service_of, visitor

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]


def _key(p: Policy) -> str:
    return f"{p.number}@{p.effective_date.isoformat()}"


def _find(request: Request, key: str) -> Policy:
    for p in service_of(request).engine.policies:
        if _key(p) == key:
            return p
    raise NotFound(f"no policy version {key}")


def _tree(node: Criterion, depth: int = 0) -> list[dict[str, Any]]:
    if node.condition is None:
        shape = {
            "all": "ALL of the following",
            "any": "ONE of the following",
        }.get(node.shape, "AMBIGUOUS: the document does not say ALL or ONE")
    else:
        shape = node.condition.type.replace("_", " ")
    rows = [
        {
            "id": node.id,
            "text": node.text,
            "shape": shape,
            "group": node.condition is None,
            "indication": node.indication,
            "depth": depth,
        }
    ]
    for child in node.children:
        rows += _tree(child, depth + 1)
    return rows


def _limits(limits: Limits) -> dict[str, str]:
    quantity = limits.quantity.text if limits.quantity else "no quantity limit"
    by_strength = "; ".join(q.text for q in limits.quantity_by_strength)
    return {
        "quantity": quantity + (f" ({by_strength})" if by_strength else ""),
        "duration": limits.duration.text,
        "text": limits.text or "",
    }


@router.get("/policies")
def policy_list(request: Request, v: Signed) -> Response:
    policies = service_of(request).engine.policies
    rows = [
        {
            "key": _key(p),
            "number": p.number,
            "brand": p.drug.brand,
            "generic": p.drug.generic,
            "effective": p.effective_date.isoformat(),
            "indications": [n.text for n in p.requirements.initial.walk() if n.indication],
        }
        for p in policies
    ]
    return page(
        request,
        "policies.html",
        {"title": "Policies", "rows": rows, "keys": [r["key"] for r in rows], "nav": "policies"},
        v=v,
    )


@router.get("/policies/{key}")
def policy_page(request: Request, key: str, v: Signed) -> Response:
    service = service_of(request)
    p = _find(request, key)
    versions = [_key(q) for q in service.engine.policies if q.number == p.number]
    return page(
        request,
        "policy.html",
        {
            "title": f"{p.number} {p.title}",
            "p": p,
            "key": key,
            "versions": versions,
            "trees": {
                "Initial requirements": _tree(p.requirements.initial),
                "Renewal requirements": _tree(p.requirements.renewal),
            },
            "limits": {
                "Initial": _limits(p.limits.initial),
                "Renewal": _limits(p.limits.renewal),
            },
            "questions": {
                kind: service.engine.questions(p, kind) for kind in ("initial", "renewal")
            },
            "nav": "policies",
        },
        v=v,
    )


@router.get("/policy-diff")
def policy_diff(request: Request, v: Signed, old: str = "", new: str = "") -> Response:
    policies = service_of(request).engine.policies
    keys = [_key(p) for p in policies]
    result = None
    if old and new:
        result = diff(_find(request, old), _find(request, new))
    return page(
        request,
        "diff.html",
        {
            "title": "Compare policy versions",
            "keys": keys,
            "old": old,
            "new": new,
            "d": result,
            "nav": "policies",
        },
        v=v,
    )
