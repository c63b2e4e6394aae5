"""How the FHIR, CDS Hooks and token routes are described in the service's OpenAPI document:
their bodies (FHIR JSON as `application/fhir+json`, a CDS Hooks request, an OAuth form), their
answers, and the error document of each protocol (an OperationOutcome, the CDS Hooks error
object, an OAuth 2.0 error), never a problem document.

A body is described as far as JSON Schema can say it: the resource type and the elements every
request needs. What a FHIR profile asks beyond that (a PAS Bundle's Claim and its references, a
DTR order) is checked by the adapter, which answers 422 with an OperationOutcome naming the
element; the CapabilityStatement (`/fhir/metadata`) names the profiles. Every text in a body is
held to the service's text rule (no control character but tab, line feed and carriage return,
no unpaired surrogate)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from priorauth.fhir.crd import HOOKS
from priorauth.fhir.outcome import FHIR_JSON

REF = "#/components/schemas/{}"
FHIR_TYPES = (FHIR_JSON, "application/json")  # the adapter reads both; it answers in the first

# The error codes of RFC 6749 (section 5.2) the token endpoint answers with, and server_error.
OAUTH_ERRORS = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "server_error",
)
COMPONENTS: dict[str, Any] = {
    "OperationOutcome": {
        "type": "object",
        "description": "A FHIR R4 OperationOutcome: what was refused, and the element at fault "
        "(`issue[0].expression`, FHIRPath).",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string", "example": "invalid"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "FhirResource": {
        "type": "object",
        "description": "A FHIR R4 resource as JSON.",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
    },
    "CdsHooksError": {
        "type": "object",
        "description": "A CDS Hooks service's error (the specification leaves its body to the "
        "service): what is wrong, and the element at fault.",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "example": "context is required"},
            "expression": {"type": "array", "items": {"type": "string"}, "example": ["context"]},
        },
        "additionalProperties": False,
    },
    "CdsHooksRequest": {
        "type": "object",
        "description": "A CDS Hooks call: the hook the service answers, the context (the "
        "orders in `draftOrders`, a Bundle), and the prefetched chart or the EHR's FHIR server "
        "to read it from.",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"enum": sorted(set(HOOKS.values()))},
            "hookInstance": {"type": "string", "example": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"},
            "context": {"type": "object"},
            "prefetch": {"type": "object"},
            "fhirServer": {"type": "string", "format": "uri"},
            "fhirAuthorization": {"type": "object"},
        },
    },
    "CdsHooksResponse": {
        "type": "object",
        "required": ["cards"],
        "properties": {
            "cards": {"type": "array", "items": {"type": "object"}},
            "systemActions": {"type": "array", "items": {"type": "object"}},
        },
    },
    "CdsHooksDiscovery": {
        "type": "object",
        "required": ["services"],
        "properties": {
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hook", "id", "description"],
                    "properties": {
                        "hook": {"type": "string"},
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "prefetch": {"type": "object"},
                    },
                },
            }
        },
    },
    "CriteriaTrace": {
        "type": "object",
        "description": "The determination's criteria tree; each fact names the FHIR resource it "
        "came from (`fhir_source`).",
    },
    "SmartConfiguration": {
        "type": "object",
        "required": ["token_endpoint"],
        "properties": {"token_endpoint": {"type": "string", "format": "uri"}},
    },
    "OAuthError": {
        "type": "object",
        "description": "An OAuth 2.0 error (RFC 6749, section 5.2).",
        "required": ["error"],
        "properties": {
            "error": {"enum": list(OAUTH_ERRORS)},
            "error_description": {"type": "string"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "example": "bearer"},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
        },
    },
}

WHY = {
    400: "The body is not JSON, is empty, or the URL has a NUL character",
    401: "No key or token, or an unknown, revoked or expired one",
    403: "The key's role may not do this",
    404: "No such case, questionnaire, subscription or service (or another organization's)",
    409: "The case is not in a state that allows this",
    413: "The body is larger than the limit",
    415: "The body is not FHIR JSON",
    422: "The resource is not what the operation takes: the document names the element",
    500: "The service failed on this request (logged)",
}
READ_ERRORS = (400, 401, 403, 404, 422, 500)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 500)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name)}


def _body(resource_type: str) -> dict[str, Any]:
    schema = {
        "allOf": [
            _ref("FhirResource"),
            {"properties": {"resourceType": {"const": resource_type}}},
        ]
    }
    return {
        "required": True,
        "description": f"A FHIR R4 {resource_type}; every text held to the service's text rule.",
        "content": {media: {"schema": schema} for media in FHIR_TYPES},
    }


def _errors(
    codes: tuple[int, ...], media: str, schema: str, why: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "description": (why or WHY)[code],
            "content": {media: {"schema": _ref(schema)}},
        }
        for code in codes
    }


def fhir(
    body: str | None = None,
    ok: int = 200,
    answer: str | None = "FhirResource",
    media: str = FHIR_JSON,
    public: bool = False,
) -> dict[str, Any]:
    """A FHIR route's documentation, as keyword arguments of its decorator: the resource it
    takes (`body`), what it answers, and its errors as OperationOutcomes."""
    errors: tuple[int, ...] = WRITE_ERRORS if body else READ_ERRORS
    if public:
        errors = (400, 500)
    responses: dict[int | str, dict[str, Any]] = {
        ok: {"description": "The answer", "content": {media: {"schema": _ref(answer)}}}
        if answer
        else {"description": "Done"}
    }
    responses.update(_errors(errors, FHIR_JSON, "OperationOutcome"))
    extra: dict[str, Any] = {}
    if body:
        extra["requestBody"] = _body(body)
    if public:
        extra["security"] = []
    return {
        "responses": responses,
        "openapi_extra": extra,
        "status_code": ok,
        "response_class": Response,  # the content types are the ones above, not JSON's
    }


def cds_call() -> dict[str, Any]:
    errors = (400, 401, 403, 404, 413, 415, 422, 500)
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The cards, and the coverage information as system actions",
            "content": {"application/json": {"schema": _ref("CdsHooksResponse")}},
        }
    }
    responses.update(_errors(errors, "application/json", "CdsHooksError"))
    body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("CdsHooksRequest")}},
    }
    return {
        "responses": responses,
        "openapi_extra": {"requestBody": body},
        "response_class": Response,
    }


def cds_discovery() -> dict[str, Any]:
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The CDS services this server offers",
            "content": {"application/json": {"schema": _ref("CdsHooksDiscovery")}},
        }
    }
    responses.update(_errors((400, 500), "application/json", "CdsHooksError"))
    return {"responses": responses, "openapi_extra": {"security": []}, "response_class": Response}


def token() -> dict[str, Any]:
    form = {
        "type": "object",
        "required": ["grant_type", "client_assertion_type", "client_assertion"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_assertion_type": {
                "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            },
            "client_assertion": {"type": "string", "description": "a signed JWT (RFC 7523)"},
            "scope": {"type": "string", "example": "system/Claim.write system/Claim.read"},
        },
    }
    why = {
        400: "The form is wrong, or the assertion does not hold (`error` says which)",
        413: "The body is larger than the limit",
        500: "The service failed on this request (logged)",
    }
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "A bearer token for the FHIR API",
            "content": {"application/json": {"schema": _ref("TokenResponse")}},
        }
    }
    responses.update(_errors((400, 413, 500), "application/json", "OAuthError", why))
    body = {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": form}},
    }
    return {
        "responses": responses,
        "openapi_extra": {"requestBody": body, "security": []},
        "response_class": Response,
    }


SERVICE_IDS = sorted(HOOKS)
