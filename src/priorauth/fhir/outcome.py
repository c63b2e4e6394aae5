"""FHIR errors: an exception naming the element, and the OperationOutcome it becomes."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A request the FHIR API refuses; `expression` names the element (FHIRPath-like)."""

    def __init__(
        self,
        diagnostics: str,
        expression: str | None = None,
        status: int = 422,
        code: str = "invalid",
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression
        self.status = status
        self.code = code


def json_value(raw: bytes) -> Any:
    """A request body as JSON, or the 400 OperationOutcome that says where it breaks."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FhirError(f"the body is not JSON ({exc})", None, 400, "structure") from None


def outcome(
    diagnostics: str,
    expression: str | None = None,
    code: str = "invalid",
    severity: str = "error",
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return OperationOutcome.model_validate(
        {"resourceType": "OperationOutcome", "issue": [issue]}
    ).model_dump(mode="json", exclude_none=True)


def pydantic_expression(root: str, loc: tuple[Any, ...]) -> str:
    """`entry.2.resource.insurance` from fhir.resources' error location, as FHIRPath:
    `Bundle.entry[2].resource.insurance`."""
    out = root
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            out += f"[{part}]"
        else:
            out += f".{part}"
    return out
