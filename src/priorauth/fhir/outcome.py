"""FHIR errors: an exception naming the element, and the error document it becomes in each of
the adapter's protocols: an OperationOutcome (FHIR), a CDS Hooks error object, an OAuth 2.0 error
(the token endpoint)."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

FHIR_JSON = "application/fhir+json"
# FHIR's issue type for an HTTP status the adapter answers without a FhirError of its own (a
# refusal by the middleware, an unknown path, a method the path does not take).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    500: "exception",
}


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


def cds_error(diagnostics: str, expression: str | None = None) -> dict[str, Any]:
    """A CDS Hooks error: the specification leaves the body of a 4xx or 5xx to the service; ours
    is `{"error": what is wrong, "expression": [the element]}`, the OperationOutcome's words."""
    body: dict[str, Any] = {"error": diagnostics}
    if expression:
        body["expression"] = [expression]
    return body


def oauth_error(status: int, description: str) -> dict[str, str]:
    """An OAuth 2.0 error (RFC 6749, section 5.2) for a refusal of the token endpoint's HTTP
    layer; every such refusal is a malformed request, or the server's own failure."""
    return {
        "error": "server_error" if status >= 500 else "invalid_request",
        "error_description": description,
    }
