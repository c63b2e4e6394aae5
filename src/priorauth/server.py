"""The composition root: the one place that puts the application together.

The case service (priorauth.service: workflow, database, keys) knows none of the ways it is
reached; each adapter knows the service and nothing of the others: the JSON API
(priorauth.api), FHIR with Da Vinci PAS and DTR, CDS Hooks with CRD and the SMART token endpoint
(priorauth.fhir), and the workbench with the decision letters (priorauth.web). This module
builds the service from the settings and mounts every adapter on one FastAPI application.

Middleware, outermost first: the access log, the catch-all for unexpected errors (a 500 problem
document; the connection stays usable), the NUL check on URLs, the body-size limit. Every
adapter gets all four; JSON routers add `Depends(json_body)` (service/inbound.py) for the media
type, the JSON limits and the text rule."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from priorauth.api.programs import router as programs_api
from priorauth.api.routes import router as json_api
from priorauth.engine.engine import Engine
from priorauth.fhir.dtr import warm as warm_dtr
from priorauth.fhir.routes import mount as mount_fhir
from priorauth.service import logs
from priorauth.service.auth import ensure_demo_keys
from priorauth.service.config import Settings, get_settings, load_policies
from priorauth.service.db import Database
from priorauth.service.http import RefuseNul, install_errors
from priorauth.service.inbound import BodySizeLimit
from priorauth.service.logs import AccessLog, CatchAll
from priorauth.service.migrate import upgrade
from priorauth.service.openapi import install as install_openapi
from priorauth.service.problems import SafeJSONResponse
from priorauth.service.workflow import Clock, Service
from priorauth.warm import warm
from priorauth.web.app import mount as mount_workbench

__all__ = ["app", "create_app"]


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
    warm_up: bool = False,
) -> FastAPI:
    """The application. `warm_up`: pay at start-up for what a worker's first requests would
    (priorauth/warm.py, and the DTR forms): the served application does; tests, which build
    hundreds of applications, do not."""
    settings = settings or get_settings()
    db = Database(settings.database_url)
    if migrate:
        upgrade(db.engine)
    if settings.demo_keys:
        with db.session() as s:
            ensure_demo_keys(s)
    engine = Engine(load_policies(settings), default_plan=settings.default_plan)
    if warm_up:
        warm(engine)
    service = Service(db, engine, settings, clock)

    application = FastAPI(
        title="priorauth",
        version="0.1.0",
        description="Prior-authorization cases decided against drug policies kept as data.",
        default_response_class=SafeJSONResponse,
        docs_url=None,
        redoc_url=None,
    )
    application.state.service = service
    application.state.limits = settings.limits

    # Added innermost first.
    application.add_middleware(BodySizeLimit, max_body_bytes=settings.limits.max_body_bytes)
    application.add_middleware(RefuseNul)
    application.add_middleware(CatchAll)
    application.add_middleware(AccessLog)
    install_errors(application)

    application.include_router(json_api)
    application.include_router(programs_api)  # gold cards, the real-time report
    mount_workbench(application, service)  # the workbench under /ui, and the decision letters
    mount_fhir(application)  # FHIR (Da Vinci PAS, DTR), CDS Hooks (CRD), the SMART token route
    install_openapi(application)
    if warm_up:
        warm_dtr(service)
    _freeze_after_start(application)
    return application


def _freeze_after_start(application: FastAPI) -> None:
    """What start-up built (policies, code tables, FHIR models) lives as long as the process:
    frozen once every adapter has started, a full collection walks only what requests made. It
    walked it all, 100-800 ms a worker with requests waiting: the PAS p99 at 100/s."""
    inner = application.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            gc.freeze()
            try:
                yield state
            finally:
                gc.unfreeze()

    application.router.lifespan_context = lifespan


def app() -> FastAPI:
    """The application uvicorn serves (`priorauth serve`), built from the PRIORAUTH_*
    environment."""
    settings = get_settings()
    logs.configure(access=settings.access_log)
    return create_app(settings, warm_up=True)
