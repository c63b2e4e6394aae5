"""HTTP routes of the FHIR API (`/fhir`), CDS Hooks (`/cds-services`) and the SMART Backend
Services token endpoint (`/oauth/token`). Thin: read the body, find who calls, call the adapter,
answer FHIR JSON. Every error, from a route, the middleware or the router (an unknown path, a
method the path does not take), is in the protocol's own shape: an OperationOutcome under /fhir, a
CDS Hooks error object under /cds-services, an OAuth 2.0 error from /oauth/token."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from priorauth.fhir import access, crd, dtr, pas, subscriptions
from priorauth.fhir import openapi as doc
from priorauth.fhir.capability import capability_statement, smart_configuration
from priorauth.fhir.models import FhirAudit
from priorauth.fhir.outcome import (
    FHIR_JSON,
    ISSUE_CODES,
    FhirError,
    cds_error,
    json_value,
    oauth_error,
    outcome,
)
from priorauth.service.auth import Principal
from priorauth.service.errors import Invalid, ServiceError
from priorauth.service.inbound import Limits, parse_json
from priorauth.service.logs import log_failure
from priorauth.service.workflow import Service

log = logging.getLogger("priorauth.fhir")


class FhirId(StringConvertor):
    """A FHIR resource id (`[A-Za-z0-9-.]{1,64}`): `/Questionnaire/$next-question` is the
    operation (POST only), never the Questionnaire whose id would be `$next-question`."""

    regex = r"[A-Za-z0-9\-\.]{1,64}"


register_url_convertor("fhirid", FhirId())
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

# In the OpenAPI document with their bodies, answers and error documents (fhir/openapi.py); the
# FHIR API is also described by its CapabilityStatement (/fhir/metadata), CDS Hooks by its
# discovery (/cds-services), the token endpoint by /fhir/.well-known/smart-configuration.
router = APIRouter(prefix="/fhir", tags=["FHIR"])
hooks = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
oauth = APIRouter(tags=["SMART Backend Services"])


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=FHIR_JSON)


def _challenge(status: int) -> dict[str, str] | None:
    return {"WWW-Authenticate": 'Bearer realm="priorauth"'} if status == 401 else None


def error_response(exc: FhirError) -> Response:
    """The OperationOutcome of a FHIR error."""
    body = outcome(exc.diagnostics, exc.expression, exc.code)
    return Response(
        json.dumps(body), exc.status, headers=_challenge(exc.status), media_type=FHIR_JSON
    )


def cds_error_response(exc: FhirError) -> Response:
    """The CDS Hooks error object of the same error: built from the error itself, never from
    another response (whose headers, Content-Length included, describe another body)."""
    body = cds_error(exc.diagnostics, exc.expression)
    return JSONResponse(body, exc.status, headers=_challenge(exc.status))


def oauth_error_response(status: int, description: str) -> Response:
    return JSONResponse(
        oauth_error(status, description), status, headers={"Cache-Control": "no-store"}
    )


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def adapter_error(path: str, status: int, detail: str) -> Response | None:
    """The error document of a refusal made outside the routes (body size, NUL in the URL, an
    unknown path, a method the path does not take, an unexpected failure), in the protocol of
    the path; None for a path that is not the adapter's."""
    if _under(path, "/fhir"):
        return error_response(FhirError(detail, None, status, ISSUE_CODES.get(status, "exception")))
    if _under(path, "/cds-services"):
        return cds_error_response(FhirError(detail, None, status))
    if path == "/oauth/token":
        return oauth_error_response(status, detail)
    return None


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
    render: Callable[[FhirError], Response] = error_response,
) -> Response:
    """Authenticate, run, audit; any failure becomes the protocol's error document (`render`:
    an OperationOutcome, unless the route says otherwise)."""
    service = service_of(request)
    who: Principal | None = None
    try:
        if authenticate:
            who = await run_in_threadpool(access.principal_from_header, service, request)
        response = await work(service, who or access.ANONYMOUS)
    except FhirError as exc:
        response = render(exc)
    except ServiceError as exc:
        response = render(_from_service(exc))
    except RecursionError:
        response = render(
            FhirError("the body is nested too deeply to read", None, 422, "too-costly")
        )
    except Exception as exc:
        log_failure(request.scope, exc, log)
        response = render(
            FhirError("the service failed on this request; it is logged", None, 500, "exception")
        )
    if getattr(request.state, "case_events", False) and response.status_code < 400:
        return response  # the workflow wrote the case's events: that is its audit record
    try:
        await run_in_threadpool(_audit, service, who, request, response.status_code)
    except Exception as exc:
        log_failure(request.scope, exc, log, "could not write the FHIR audit record")
    return response


# --- base ------------------------------------------------------------------------------------


@router.get("/metadata", **doc.fhir(public=True))
async def metadata(request: Request) -> Response:
    """The CapabilityStatement: what this server answers (public, as FHIR servers do)."""

    async def work(service: Service, who: Principal) -> Response:
        return fhir_response(capability_statement(str(request.base_url).rstrip("/")))

    return await handle(request, work, authenticate=False)


@router.get(
    "/.well-known/smart-configuration",
    **doc.fhir(answer="SmartConfiguration", media="application/json", public=True),
)
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


@router.post("/Claim/$submit", **doc.fhir(body="Bundle"))
async def claim_submit(request: Request) -> Response:
    """Submit: each medication item becomes a case, or finds the one its Claim made."""
    return await _pas(request, pas.submit)


@router.post("/Claim/$inquire", **doc.fhir(body="Bundle"))
async def claim_inquire(request: Request) -> Response:
    """Inquire: the current state of the cases the Claim made."""
    return await _pas(request, pas.inquire)


@router.get("/ClaimResponse/{case_id}", **doc.fhir())
async def claim_response(case_id: str, request: Request) -> Response:
    """The current ClaimResponse of a case (its id is the authorization number)."""

    async def work(service: Service, who: Principal) -> Response:
        def run() -> dict[str, Any]:
            results = pas.with_authorizations(service, pas.results_for_case(service, who, case_id))
            request.state.case_events = True  # the case's read event
            return pas.claim_response(results, service.clock())

        return fhir_response(await run_in_threadpool(run))

    return await handle(request, work)


@router.get("/Claim/{case_id}/$trace", **doc.fhir(answer="CriteriaTrace", media="application/json"))
async def claim_trace(case_id: str, request: Request) -> Response:
    """The determination's criteria tree; each fact names the FHIR resource it came from."""

    async def work(service: Service, who: Principal) -> Response:
        trace = await run_in_threadpool(pas.case_trace, service, who, case_id)
        return Response(json.dumps(trace), media_type="application/json")

    return await handle(request, work)


# --- DTR -------------------------------------------------------------------------------------


@router.post("/Questionnaire/$questionnaire-package", **doc.fhir(body="Parameters"))
async def questionnaire_package(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.questionnaire_package, service, raw, base)
        return fhir_response(out)

    return await handle(request, work)


@router.post("/Questionnaire/$next-question", **doc.fhir(body="Parameters"))
async def next_question(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.next_question, service, who, raw, base)
        return fhir_response(out)

    return await handle(request, work)


@router.get("/Questionnaire/{questionnaire_id:fhirid}", **doc.fhir())
async def questionnaire(
    questionnaire_id: Annotated[str, Path(pattern=f"^{FhirId.regex}$")], request: Request
) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(dtr.questionnaire_by_id, service, who, questionnaire_id, base)
        return fhir_response(out)

    return await handle(request, work)


# --- Subscriptions ---------------------------------------------------------------------------


@router.post("/Subscription", **doc.fhir(body="Subscription", ok=201))
async def create_subscription(request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        out = await run_in_threadpool(subscriptions.create, service, who, raw)
        return fhir_response(out, 201)

    return await handle(request, work)


@router.get("/Subscription/{sub_id}", **doc.fhir())
async def read_subscription(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        return fhir_response(await run_in_threadpool(subscriptions.read, service, who, sub_id))

    return await handle(request, work)


@router.get("/Subscription/{sub_id}/$status", **doc.fhir())
async def subscription_status(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        out = await run_in_threadpool(subscriptions.status_bundle, service, who, sub_id)
        return fhir_response(out)

    return await handle(request, work)


@router.delete("/Subscription/{sub_id}", **doc.fhir(ok=204, answer=None))
async def delete_subscription(sub_id: str, request: Request) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        await run_in_threadpool(subscriptions.delete, service, who, sub_id)
        return Response(status_code=204)

    return await handle(request, work)


# --- CDS Hooks (CRD) -------------------------------------------------------------------------


@hooks.get("", **doc.cds_discovery())
async def discovery() -> JSONResponse:
    """The CDS Hooks discovery document."""
    return JSONResponse(crd.discovery())


@hooks.post("/{service_id}", **doc.cds_call())
async def call_hook(
    service_id: Annotated[str, Path(json_schema_extra={"enum": doc.SERVICE_IDS})],
    request: Request,
) -> Response:
    async def work(service: Service, who: Principal) -> Response:
        raw = await read_body(request)
        base = str(request.base_url).rstrip("/")
        out = await run_in_threadpool(crd.answer, service, who, service_id, raw, base)
        return JSONResponse(out)

    return await handle(request, work, render=cds_error_response)


# --- SMART Backend Services ------------------------------------------------------------------


@oauth.post("/oauth/token", **doc.token())
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


def _renderer(prefix: str) -> Callable[[int, str], Response]:
    def render(status: int, detail: str) -> Response:
        response = adapter_error(prefix, status, detail)
        assert response is not None
        return response

    return render


def _answer_http_errors(app: FastAPI) -> None:
    """The router's own refusals (404 for an unknown path, 405 for a method the path does not
    take) in the adapter's protocol on its paths; elsewhere as the application answers them."""
    previous = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        response = adapter_error(request.scope.get("path", ""), exc.status_code, str(exc.detail))
        if response is None:
            if previous is None:
                raise exc
            answer: Response = await previous(request, exc)  # type: ignore[misc]
            return answer
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value  # Allow on a 405; the body is unchanged
        return response

    app.add_exception_handler(StarletteHTTPException, http_error)


def mount(app: FastAPI) -> None:
    """Add the FHIR, CDS Hooks and token routes, and the notification dispatcher."""
    app.include_router(router)
    app.include_router(hooks)
    app.include_router(oauth)
    app.state.openapi_components = {
        **getattr(app.state, "openapi_components", {}),
        **doc.COMPONENTS,
    }
    # Refusals made before any route runs (body too large, NUL in the URL, an unexpected
    # failure) in each protocol's shape too.
    app.state.error_renderers = {
        **getattr(app.state, "error_renderers", {}),
        **{prefix: _renderer(prefix) for prefix in ("/fhir", "/cds-services", "/oauth/token")},
    }
    _answer_http_errors(app)
    dispatcher = subscriptions.Dispatcher(app)
    app.state.fhir_dispatcher = dispatcher
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        dispatcher.start()
        try:
            async with inner(a) as state:
                await run_in_threadpool(pas.warm)  # the FHIR models a PAS request needs
                yield state
        finally:
            await run_in_threadpool(dispatcher.stop)

    app.router.lifespan_context = lifespan


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
