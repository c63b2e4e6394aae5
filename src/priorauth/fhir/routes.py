"""HTTP routes of the FHIR API (`/fhir`), CDS Hooks (`/cds-services`) and the SMART Backend
Services token endpoint (`/oauth/token`). Thin: read the body, find who calls, call the adapter,
answer FHIR JSON; every error is an OperationOutcome (a CDS Hooks error is a JSON object)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from priorauth.fhir import access, crd, dtr, pas, subscriptions
from priorauth.fhir.capability import capability_statement, smart_configuration
from priorauth.fhir.models import FhirAudit
from priorauth.fhir.outcome import FHIR_JSON, FhirError, json_value, outcome
from priorauth.service.auth import Principal
from priorauth.service.errors import Invalid, ServiceError
from priorauth.service.inbound import Limits, parse_json
from priorauth.service.workflow import Service

log = logging.getLogger("priorauth.fhir")
MAX_BODY = 4 * 1024 * 1024
_FHIR_LIMITS = Limits(
    max_body_bytes=MAX_BODY,
    max_array_items=10_000,
    max_object_keys=1_000,
    max_text_chars=MAX_BODY,
    max_depth=64,
)
"""A PAS Bundle carries references and codes, not scanned documents: 4 MiB is plenty."""
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir", "")

# Not in the OpenAPI document, which describes the JSON API: the FHIR API is described by its
# CapabilityStatement (/fhir/metadata), CDS Hooks by its discovery (/cds-services), the token
# endpoint by /fhir/.well-known/smart-configuration; the tests fuzz them with hypothesis.
router = APIRouter(prefix="/fhir", tags=["FHIR"], include_in_schema=False)
hooks = APIRouter(prefix="/cds-services", tags=["CDS Hooks"], include_in_schema=False)
oauth = APIRouter(tags=["SMART Backend Services"], include_in_schema=False)


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=FHIR_JSON)


def error_response(exc: FhirError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="priorauth"'} if exc.status == 401 else None
    body = outcome(exc.diagnostics, exc.expression, exc.code)
    return Response(json.dumps(body), exc.status, headers=headers, media_type=FHIR_JSON)


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def _from_service(exc: ServiceError) -> FhirError:
    code = {401: "login", 403: "forbidden", 404: "not-found", 409: "conflict"}
    return FhirError(exc.detail, exc.field, exc.status, code.get(exc.status, "invalid"))


async def read_body(request: Request) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise FhirError(
            f"Content-Type {ctype!r}: send application/fhir+json", None, 415, "not-supported"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise FhirError(f"the body is over {MAX_BODY} bytes", None, 413, "too-costly")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise FhirError(f"the body is over {MAX_BODY} bytes", None, 413, "too-costly")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise FhirError("empty body: send a FHIR resource as JSON", None, 400, "required")
    # The service's one text rule (no unpaired surrogate, no control character) and no duplicate
    # keys, as for every JSON body; the sizes are FHIR's own: a bundle may carry attachments.
    try:
        parse_json(body, _FHIR_LIMITS)
    except Invalid as exc:
        json_value(body)  # not JSON at all: the 400 that says where it breaks
        raise FhirError(exc.detail, exc.field or None, 422, "invalid") from None
    return body


def _audit(service: Service, who: Principal | None, request: Request, status: int) -> None:
    with service.db.session() as s:
        s.add(
            FhirAudit(
                at=service.clock(),
                actor=who.name if who else "anonymous",
                role=who.role if who else "-",
                method=request.method,
                path=request.url.path[:200],
                status=status,
            )
        )


async def handle(
    request: Request,
    work: Callable[[Service, Principal], Awaitable[Response]],
    authenticate: bool = True,
) -> Response:
    """Authenticate, run, audit; any failure becomes an OperationOutcome."""
    service = service_of(request)
    who: Principal | None = None
    try:
        if authenticate:
            who = await run_in_threadpool(access.principal_from_header, service, request)
        response = await work(service, who or access.ANONYMOUS)
    except FhirError as exc:
        response = error_response(exc)
    except ServiceError as exc:
        response = error_response(_from_service(exc))
    except RecursionError:
        response = error_response(
            FhirError("the body is nested too deeply to read", None, 422, "too-costly")
        )
    except Exception:
        log.exception("unexpected error in the FHIR API")
        response = error_response(
            FhirError("the service failed on this request; it is logged", None, 500, "exception")
        )
    if getattr(request.state, "case_events", False) and response.status_code < 400:
        return response  # the workflow wrote the case's events: that is its audit record
    try:
        await run_in_threadpool(_audit, service, who, request, response.status_code)
    except Exception:
        log.exception("could not write the FHIR audit record")
    return response


# --- base ------------------------------------------------------------------------------------


@router.get("/metadata")
async def metadata(request: Request) -> Response:
    """The CapabilityStatement: what this server answers (public, as FHIR servers do)."""

    async def work(service: Service, who: Principal) -> Response:
        return fhir_response(capability_statement(str(request.base_url).rstrip("/")))

    return await handle(request, work, authenticate=False)


@router.get("/.well-known/smart-configuration")
async def smart_config(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(str(request.base_url).rstrip("/")))


# --- PAS -------------------------------------------------------------------------------------


async def _pas(request: Request, operation: Callable[..., Any]) -> Response:
    """A PAS request Bundle in, a PAS response Bundle (ClaimResponse) out."""

    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)

        def run() -> dict[str, Any]:
            bundle, results = operation(service, who, raw)
            request.state.case_events = any(r.case is not None for r in results)
            pas.with_authorizations(service, results)
            return pas.response_bundle(bundle, results, service.clock())

        return fhir_response(await run_in_threadpool(run))

    return await handle(request, work)


@router.post("/Claim/$submit")
async def claim_submit(request: Request) -> Response:
    """Submit: each medication item becomes a case, or finds the one its Claim made."""
    return await _pas(request, pas.submit)


@router.post("/Claim/$inquire")
async def claim_inquire(request: Request) -> Response:
    """Inquire: the current state of the cases the Claim made."""
    return await _pas(request, pas.inquire)


@router.get("/ClaimResponse/{case_id}")
async def claim_response(case_id: str, request: Request) -> Response:
    """The current ClaimResponse of a case (its id is the authorization number)."""

    async def work(service: Service, who: Principal) -> Response:
        def run() -> dict[str, Any]:
            results = pas.with_authorizations(service, pas.results_for_case(service, who, case_id))
            request.state.case_events = True  # the case's read event
            return pas.claim_response(results, service.clock())

        return fhir_response(await run_in_threadpool(run))

    return await handle(request, work)


@router.get("/Claim/{case_id}/$trace")
async def claim_trace(case_id: str, request: Request) -> Response:
    """The determination's criteria tree; each fact names the FHIR resource it came from."""

    async def work(service: Service, who: Principal) -> Response:
        trace = await run_in_threadpool(pas.case_trace, service, who, case_id)
        return Response(json.dumps(trace), media_type="application/json")

    return await handle(request, work)


# --- DTR -------------------------------------------------------------------------------------


@router.post("/Questionnaire/$questionnaire-package")
async def questionnaire_package(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.questionnaire_package, service, raw, base)
        return fhir_response(out)

    return await handle(request, work)


@router.post("/Questionnaire/$next-question")
async def next_question(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.next_question, service, who, raw, base)
        return fhir_response(out)

    return await handle(request, work)


@router.get("/Questionnaire/{questionnaire_id}")
async def questionnaire(questionnaire_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.questionnaire_by_id, service, who, questionnaire_id, base)
        return fhir_response(out)

    return await handle(request, work)


# --- Subscriptions ---------------------------------------------------------------------------


@router.post("/Subscription")
async def create_subscription(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        out = await run_in_threadpool(subscriptions.create, service, who, raw)
        return fhir_response(out, 201)

    return await handle(request, work)


@router.get("/Subscription/{sub_id}")
async def read_subscription(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        return fhir_response(await run_in_threadpool(subscriptions.read, service, who, sub_id))

    return await handle(request, work)


@router.get("/Subscription/{sub_id}/$status")
async def subscription_status(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        out = await run_in_threadpool(subscriptions.status_bundle, service, who, sub_id)
        return fhir_response(out)

    return await handle(request, work)


@router.delete("/Subscription/{sub_id}")
async def delete_subscription(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        await run_in_threadpool(subscriptions.delete, service, who, sub_id)
        return Response(status_code=204)

    return await handle(request, work)


# --- CDS Hooks (CRD) -------------------------------------------------------------------------


@hooks.get("")
async def discovery() -> JSONResponse:
    """The CDS Hooks discovery document."""
    return JSONResponse(crd.discovery())


@hooks.post("/{service_id}")
async def call_hook(service_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(crd.answer, service, who, service_id, raw, base)
        return JSONResponse(out)

    response = await handle(request, work)
    if response.status_code >= 400:
        # CDS Hooks clients read a JSON error; keep the OperationOutcome's words.
        body = json.loads(bytes(response.body))
        issue = body.get("issue", [{}])[0]
        return JSONResponse(
            {"error": issue.get("diagnostics", "error"), "expression": issue.get("expression")},
            status_code=response.status_code,
            headers=_challenge(response),
        )
    return response


def _challenge(response: Response) -> dict[str, str] | None:
    """A 401's WWW-Authenticate, alone: the OperationOutcome's Content-Length and Content-Type
    are not the CDS error object's."""
    challenge = response.headers.get("www-authenticate")
    return {"WWW-Authenticate": challenge} if challenge else None


# --- SMART Backend Services ------------------------------------------------------------------


@oauth.post("/oauth/token")
async def token(request: Request) -> JSONResponse:
    """Client credentials with a signed JWT assertion (RFC 7523) -> a bearer token."""
    service = service_of(request)
    # application/x-www-form-urlencoded, read here: one small form needs no multipart parser.
    raw = await request.body()
    if len(raw) > 64 * 1024:
        return JSONResponse(
            {"error": "invalid_request", "error_description": "form too large"}, 400
        )
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        pairs = []
    fields = dict(pairs)
    try:
        out = await run_in_threadpool(
            access.issue_token, service, fields, str(request.url).split("?")[0]
        )
    except access.OAuthError as exc:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, 400)
    return JSONResponse(out, headers={"Cache-Control": "no-store"})


_OUTCOME_CODES = {400: "invalid", 413: "too-costly", 500: "exception"}


def mount(app: FastAPI) -> None:
    """Add the FHIR, CDS Hooks and token routes, and the notification dispatcher."""
    app.include_router(router)
    # Refusals made before any FHIR route runs (body too large, NUL in the URL, an unexpected
    # failure) are OperationOutcomes too.
    app.state.error_renderers = {
        **getattr(app.state, "error_renderers", {}),
        "/fhir": lambda status, detail: error_response(
            FhirError(detail, None, status, _OUTCOME_CODES.get(status, "exception"))
        ),
        # CDS Hooks clients read {"error": text}; OAuth clients {"error": code} (RFC 6749).
        "/cds-services": lambda status, detail: JSONResponse({"error": detail}, status),
        "/oauth": lambda status, detail: JSONResponse(
            {"error": "invalid_request", "error_description": detail}, status
        ),
    }
    app.include_router(hooks)
    app.include_router(oauth)
    dispatcher = subscriptions.Dispatcher(app)
    app.state.fhir_dispatcher = dispatcher
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        dispatcher.start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            await run_in_threadpool(dispatcher.stop)

    app.router.lifespan_context = lifespan


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
