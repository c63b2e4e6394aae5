"""Policy files (YAML) to Policy objects; a bad file is refused with its path and the problem."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from priorauth.errors import PolicyError
from priorauth.policy.model import (
    BiomarkerCondition,
    BmiCondition,
    ConcurrentTherapyCondition,
    Criterion,
    DiagnosisCondition,
    ObservationCondition,
    Policy,
    PriorTherapyCondition,
)
from priorauth.policy.observations import load_observations
from priorauth.policy.tables import Knowledge, load_knowledge, norm, yaml_load, yaml_problem


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def policy_from_data(data: Any, source: str, knowledge: Knowledge | None = None) -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(source, "", "expected a mapping of policy fields at the top")
    if "effective_date" in data and data["effective_date"] is None:
        # An import whose document states no date writes null: refused here, where every
        # reader of policy files passes, so that no made-up date decides which version applies.
        raise PolicyError(
            source,
            "effective_date",
            "not stated in the document; set it with --effective-date or in the file",
        )
    # Such an import's original and last review dates are null too: once the effective date
    # is set they are that date, as when a document states only its effective date.
    data = {
        **data,
        **{
            k: data["effective_date"]
            for k in ("original_policy_date", "last_review_date")
            if "effective_date" in data and k in data and data[k] is None
        },
    }
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.endswith("Condition")))
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise PolicyError(source, _loc(loc), msg) from None
    check_references(policy, source, knowledge or load_knowledge())
    return policy


def check_references(policy: Policy, source: str, kb: Knowledge) -> None:
    """Every disease, drug class and drug a criterion names must be in the knowledge tables."""
    for part in ("initial", "renewal"):
        root: Criterion = getattr(policy.requirements, part)
        for node in root.walk():
            where = f"requirements.{part} criterion {node.id}"
            c = node.condition
            if isinstance(c, DiagnosisCondition) and c.disease not in kb.diseases:
                raise PolicyError(source, where, f"unknown disease {c.disease!r}")
            if isinstance(c, BiomarkerCondition) and c.disease and c.disease not in kb.diseases:
                raise PolicyError(source, where, f"unknown disease {c.disease!r}")
            if isinstance(c, BmiCondition):
                for key in c.comorbidities:
                    if key not in kb.diseases:
                        raise PolicyError(source, where, f"unknown disease {key!r}")
            if isinstance(c, ObservationCondition):
                problem = observation_reference(c)
                if problem is not None:
                    raise PolicyError(source, where, problem)
            terms: list[str] = []
            if isinstance(c, PriorTherapyCondition):
                terms = [*c.all_classes, *c.any_classes]
            if isinstance(c, ConcurrentTherapyCondition):
                terms = [*c.with_any, *c.with_all, *c.none_of]
            for term in terms:
                if norm(term) not in kb.drug_aliases and not kb.is_class(term):
                    raise PolicyError(source, where, f"unknown drug or drug class {term!r}")


def load_policy(path: str | Path) -> Policy:
    """Read and validate one policy file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(p), "", f"cannot read: {exc}") from None
    try:
        data = yaml_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(str(p), "", yaml_problem(exc)) from None
    return policy_from_data(data, str(p))


def builtin_policy_files() -> Iterator[tuple[str, str]]:
    folder = resources.files("priorauth.policy") / "builtin"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            yield entry.name, entry.read_text(encoding="utf-8")


def builtin_policies() -> list[Policy]:
    out = []
    for name, text in builtin_policy_files():
        out.append(policy_from_data(yaml_load(text), f"builtin/{name}"))
    return out


def observation_reference(c: ObservationCondition) -> str | None:
    """An observation the table does not know, or a unit that does not convert to its unit."""
    table = load_observations()
    key = table.key_of(c.observation)
    if key is None:
        return f"unknown observation {c.observation!r} (knowledge/observations.yaml)"
    kind = table.kind(key)
    if c.unit is not None and c.change != "percent" and kind.factor(c.unit) is None:
        return f"unit {c.unit!r} does not convert to {kind.unit or 'a score'} ({kind.name})"
    return None
