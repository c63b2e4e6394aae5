"""A denial's explanation as the service keeps it: worked out by priorauth.explain, which the
command line uses too (so both say the same thing); kept here so the service's callers need not
change."""

from __future__ import annotations

from priorauth.explain import (
    APPEAL_DAYS,
    CITED,
    EXPEDITED_APPEAL_HOURS,
    EXTERNAL_REVIEW_MONTHS,
    appeal,
    cited_in,
    explanation,
    policy_version,
    unmet,
)

__all__ = [
    "APPEAL_DAYS",
    "CITED",
    "EXPEDITED_APPEAL_HOURS",
    "EXTERNAL_REVIEW_MONTHS",
    "appeal",
    "cited_in",
    "explanation",
    "policy_version",
    "unmet",
]
