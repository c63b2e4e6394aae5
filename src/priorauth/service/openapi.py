"""The OpenAPI document and its pages, complete and served from the package.

- The request contract (a pydantic model with `$defs`) is embedded as components, so every
  `$ref` resolves; its arrays and texts carry the service's limits; realistic examples let a
  reader (or a fuzzer) send requests that reach real cases.
- Every rule the server holds a body or a query to is stated: the limits, and the text rule as
  a `pattern` on every text and every key (no control character but tab, line feed and carriage
  return, no unpaired surrogate), so a generated request the schema allows is one the server
  takes.
- Every operation of the JSON API lists the problem documents (`application/problem+json`) it
  can answer with; an adapter's operation that declares its own error documents (FHIR's
  OperationOutcome, the CDS Hooks error, OAuth's) keeps them, and an adapter adds its schemas
  through `app.state.openapi_components`.
- `/docs` is Swagger UI from the swagger-ui-bundle package: no CDN, works offline.

A router added later is documented the same way: `install` runs over every operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from priorauth.request import Request as PARequest
from priorauth.service.errors import BAD_CHAR
from priorauth.service.inbound import Limits
from priorauth.service.methods import AllowedMethods
from priorauth.service.problems import PROBLEM

REF = "#/components/schemas/{model}"
PUBLIC = {"/health"}
# The text rule (service/inbound.py) as a JSON Schema pattern: none of the control characters
# it refuses. Its other half, no unpaired UTF-16 surrogate, is what a JSON Schema string already
# is (Unicode text), and regex engines (Rust's, which validators use) cannot name surrogates.
TEXT_PATTERN = "^[^" + BAD_CHAR.pattern[1:-1].replace("\\ud800-\\udfff", "") + "]*$"
assert "ud800" not in TEXT_PATTERN, "the text rule's pattern changed: state it here again"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Unprocessable request"},
        "status": {"type": "integer", "example": 422},
        "detail": {
            "type": "string",
            "example": "diagnoses[0].code: not an ICD-10-CM code (expected e.g. C34.90 or C3490)",
        },
        "field": {"type": "string", "description": "the field at fault", "example": "diagnoses"},
        "errors": {
            "type": "array",
            "description": "every problem found, when there are several",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}

WHY = {
    "400": "Bad request (a NUL character in the URL)",
    "401": "No API key, or an unknown or revoked one",
    "403": "The key's role may not do this",
    "404": "No such case (or another organization's)",
    "409": "The case is not in a state that allows this, or was changed meanwhile",
    "413": "The body is larger than the limit",
    "415": "The body is not JSON",
    "422": "A field is missing or wrong: the document names it",
    "429": "Too many unknown API keys from this client",
    "500": "The service failed on this request (logged)",
    "503": "The database does not answer",
}

# The requests of examples/ (nsclc-initial-approve, -pend, -partial, investigational-deny,
# nsclc-renewal-approve): a test submits each and checks the documented outcome.
REQUEST_EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "approved": (
        "NSCLC, KRAS G12C by an FDA-approved test, prior platinum therapy: approved",
        {
            "kind": "initial",
            "date_of_service": "2026-06-15",
            "urgency": "standard",
            "member": {"id": "EX-0001", "birth_date": "1958-07-21"},
            "prescriber": {"npi": "1245319599", "name": "Example Oncology Clinic"},
            "medication": {
                "name": "Lumakras",
                "strength_mg": 320,
                "quantity": 90,
                "days_supply": 30,
            },
            "diagnoses": [
                {"code": "C34.11", "histology": "adenocarcinoma", "extent": "metastatic"}
            ],
            "biomarkers": [
                {
                    "gene": "KRAS",
                    "alteration": "G12C",
                    "result": "positive",
                    "test": "therascreen KRAS RGQ PCR Kit",
                    "fda_approved": True,
                }
            ],
            "prior_therapies": [
                {"drug": "carboplatin"},
                {"drug": "pemetrexed"},
                {"drug": "pembrolizumab"},
            ],
            "concurrent_therapies": [],
            "attestations": {"liver_function_monitoring": True},
        },
    ),
    "pended": (
        "No KRAS result and no liver-monitoring attestation: pended with those two questions",
        {
            "kind": "initial",
            "date_of_service": "2026-06-15",
            "member": {"id": "EX-0003", "birth_date": "1949-12-30"},
            "medication": {
                "name": "Lumakras",
                "strength_mg": 120,
                "quantity": 240,
                "days_supply": 30,
            },
            "diagnoses": [
                {"code": "C34.31", "histology": "squamous_cell", "extent": "locally_advanced"}
            ],
            "prior_therapies": [{"drug": "cisplatin"}, {"drug": "gemcitabine"}],
            "concurrent_therapies": [],
        },
    ),
    "partial": (
        "1280 mg a day requested: partially approved at 960 mg a day",
        {
            "kind": "initial",
            "date_of_service": "2026-06-15",
            "member": {"id": "EX-0004", "birth_date": "1971-05-09"},
            "medication": {
                "name": "Lumakras",
                "strength_mg": 320,
                "quantity": 120,
                "days_supply": 30,
            },
            "diagnoses": [{"code": "C34.90", "histology": "large_cell", "extent": "metastatic"}],
            "biomarkers": [
                {
                    "gene": "KRAS",
                    "alteration": "G12C",
                    "result": "positive",
                    "test": "Guardant360 CDx",
                }
            ],
            "prior_therapies": [{"drug": "docetaxel"}],
            "concurrent_therapies": [],
            "attestations": {"liver_function_monitoring": True},
        },
    ),
    "investigational": (
        "Melanoma is not a listed indication: a recommended denial (investigational)",
        {
            "kind": "initial",
            "date_of_service": "2026-06-15",
            "member": {"id": "EX-0005", "birth_date": "1962-09-14"},
            "medication": {
                "name": "Lumakras",
                "strength_mg": 120,
                "quantity": 240,
                "days_supply": 30,
            },
            "diagnoses": [{"code": "C43.9", "histology": "melanoma", "extent": "metastatic"}],
            "biomarkers": [{"gene": "KRAS", "alteration": "G12C", "result": "positive"}],
            "prior_therapies": [{"drug": "nivolumab"}],
            "attestations": {"liver_function_monitoring": True},
        },
    ),
    "renewal": (
        "A renewal for the approved member, without progression: approved for 12 months",
        {
            "kind": "renewal",
            "date_of_service": "2027-06-10",
            "member": {"id": "EX-0001", "birth_date": "1958-07-21"},
            "medication": {
                "name": "Lumakras",
                "strength_mg": 320,
                "quantity": 90,
                "days_supply": 30,
            },
            "diagnoses": [
                {"code": "C34.11", "histology": "adenocarcinoma", "extent": "metastatic"}
            ],
            "disease_status": {"progression": False, "unacceptable_toxicity": False},
            "attestations": {"liver_function_monitoring": True},
        },
    ),
}


BODY_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("/cases/{case_id}/information", "post"): {
        "answer": {
            "summary": "Answer a pend's questions",
            "value": {
                "answers": {"initial.nsclc.kras_g12c": True},
                "attestations": {"liver_function_monitoring": True},
            },
        },
        "biomarkers": {
            "summary": "Clinical data instead of an answer",
            "value": {
                "biomarkers": [
                    {
                        "gene": "KRAS",
                        "alteration": "G12C",
                        "result": "positive",
                        "fda_approved": True,
                    }
                ]
            },
        },
    },
    ("/cases/{case_id}/review", "post"): {
        "confirm": {
            "summary": "Confirm the recommended denial",
            "value": {"action": "confirm_denial", "reason": "melanoma is not a listed indication"},
        },
        "overturn": {
            "summary": "Overturn it",
            "value": {"action": "overturn", "reason": "NSCLC confirmed by the pathology report"},
        },
    },
    ("/cases/{case_id}/appeal", "post"): {
        "appeal": {"summary": "Appeal a denial", "value": {"reason": "new biopsy attached"}}
    },
    ("/cases/{case_id}/appeal-decision", "post"): {
        "uphold": {"summary": "Uphold", "value": {"action": "uphold", "reason": "still no basis"}}
    },
    ("/cases/{case_id}/withdraw", "post"): {
        "withdraw": {"summary": "Withdraw", "value": {"reason": "therapy changed"}}
    },
}


def bound(node: Any, limits: Limits) -> None:
    """Arrays, objects and texts of a schema held to the service's limits and its text rule."""
    if isinstance(node, dict):
        if node.get("type") == "array":
            node.setdefault("maxItems", limits.max_array_items)
        if node.get("type") == "string" and "format" not in node and "enum" not in node:
            node.setdefault("maxLength", limits.max_text_chars)
            node.setdefault("pattern", TEXT_PATTERN)
        if node.get("type") == "object" and "additionalProperties" in node:
            node.setdefault("maxProperties", limits.max_object_keys)
            # The contract may bound its keys already (pydantic's max_length on a dict's keys):
            # the text rule goes beside that bound.
            names = node.setdefault("propertyNames", {})
            names.setdefault("maxLength", limits.max_text_chars)
            names.setdefault("pattern", TEXT_PATTERN)
        for key, value in node.items():
            if key not in ("example", "examples", "default", "const", "enum"):
                bound(value, limits)
    elif isinstance(node, list):
        for value in node:
            bound(value, limits)


def request_schema(limits: Limits) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request contract as (schema, its components), every `$ref` into components, arrays
    and texts bounded by the service's limits."""
    schema = PARequest.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    bound(schema, limits)
    bound(defs, limits)
    return schema, defs


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    if "anyOf" not in schema:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}


def information_schema(request: dict[str, Any]) -> dict[str, Any]:
    """What `POST /cases/{case_id}/information` takes: at least one of the request's fields that
    information may bring, none null, no other."""
    from priorauth.service.workflow import INFO_FIELDS

    fields = request["properties"]
    return {
        "type": "object",
        "description": "Answers (`answers`) or clinical data for a pended case: lists replace "
        "the request's, mappings are merged into it.",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {name: _not_null(fields[name]) for name in INFO_FIELDS},
    }


def _declares_errors(operation: dict[str, Any]) -> bool:
    """The operation answers its errors in its own format (an adapter's: FHIR, CDS Hooks), not
    FastAPI's validation error, which the service never sends."""
    fastapi_own = {"$ref": "#/components/schemas/HTTPValidationError"}
    return any(
        str(code)[0] in "45" and media.get("schema") != fastapi_own
        for code, answer in operation.get("responses", {}).items()
        for media in answer.get("content", {}).values()
    )


def _problem_responses(path: str, method: str, operation: dict[str, Any]) -> None:
    codes = ["400", "422", "500"]
    if path not in PUBLIC:
        codes += ["401", "403", "429"]
    else:
        codes.append("503")
    if "{case_id}" in path:
        codes += ["404", "409"] if method == "post" else ["404"]
    if method == "post":
        codes += ["413", "415", "409"]
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: we answer with a problem
    # A refusal the route declares itself (a letter of an undecided case: 409) is a problem too.
    codes += [c for c in responses if c in WHY and c not in codes]
    for code in sorted(set(codes)):
        responses[code] = {
            "description": responses.get(code, {}).get("description") or WHY[code],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }


def build(app: FastAPI, limits: Limits) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schema, defs = request_schema(limits)
    schemas.update(defs)
    schemas["PARequest"] = schema
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.update(getattr(app.state, "openapi_components", {}))
    for name in [n for n in schemas if n.endswith("Body")]:  # the JSON API's decision bodies
        bound(schemas[name], limits)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"}
    }
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if path not in PUBLIC and "security" not in operation:
                operation["security"] = [{"bearer": []}]
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query":  # query values are held to the text rule
                    bound(parameter.get("schema"), limits)
            if (path, method) == ("/cases", "post"):
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/PARequest"},
                            "examples": {
                                name: {"summary": summary, "value": value}
                                for name, (summary, value) in REQUEST_EXAMPLES.items()
                            },
                        }
                    },
                }
            if (path, method) == ("/cases/{case_id}/information", "post"):
                operation["requestBody"]["content"]["application/json"]["schema"] = (
                    information_schema(schema)
                )
            examples = BODY_EXAMPLES.get((path, method))
            if examples:
                content = operation["requestBody"]["content"]["application/json"]
                content["examples"] = examples
            if not _declares_errors(operation):
                _problem_responses(path, method, operation)
    return doc


def swagger_assets() -> Path:
    import swagger_ui_bundle  # type: ignore[import-untyped]

    return Path(swagger_ui_bundle.swagger_ui_path)


def install(app: FastAPI) -> None:
    limits: Limits = app.state.limits

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The server states the methods of a path as the document does: every one, in Allow.
    app.add_middleware(AllowedMethods, router=app.router)
    app.mount("/docs/assets", StaticFiles(directory=swagger_assets()), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="priorauth API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
