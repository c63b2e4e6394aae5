"""priorauth: prior-authorization determinations from drug policies kept as data.

Public API::

    from priorauth import Engine
    det = Engine().evaluate({"kind": "initial", ...})
    det.decision, det.reasons, det.missing, det.trace, det.model_dump(mode="json")
"""

from priorauth.determination import Determination
from priorauth.engine.engine import Engine
from priorauth.errors import NoPolicyError, PolicyError, PriorAuthError, RequestError
from priorauth.policy.load import load_policy
from priorauth.policy.model import Policy
from priorauth.request import Request, parse_request

__all__ = [
    "Determination",
    "Engine",
    "NoPolicyError",
    "Policy",
    "PolicyError",
    "PriorAuthError",
    "Request",
    "RequestError",
    "load_policy",
    "parse_request",
]
