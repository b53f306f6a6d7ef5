"""The FastAPI application; `create_app(settings)` for tests and the server alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api import console
from api.console import pages, render
from api.console.session import SignInRequiredError
from api.routes import (
    alert_stream,
    alerts,
    campaigns,
    contacts,
    customers,
    deadletters,
    dealers,
    features,
    fleet,
    health,
    households,
    incidents,
    merges,
    offers,
    recalls,
    recommendations,
    vehicles,
    webhooks,
)
from api.security_headers import SecurityHeaders
from rules.definitions import load_rules
from telemetry import __version__
from telemetry.catalog import default_catalog
from telemetry.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TelemetryError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from telemetry.settings import Settings
from telemetry.storage.db import make_pool

_STATUS = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidRequestError: 422,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    UnavailableError: 503,
}


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_pool(settings) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(
        title="Telemetry server",
        version=__version__,
        description="Connected-vehicle telemetry, maintenance alerts and customer records.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(SecurityHeaders)
    app.state.catalog = default_catalog()
    app.state.rules = load_rules(app.state.catalog, settings.rules_dir)  # maintenance plans for the customer view

    @app.exception_handler(TelemetryError)
    async def telemetry_error(request: Request, exc: TelemetryError) -> Response:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
        if request.url.path.startswith("/console/"):  # a person reads it: a page, not JSON
            return render.error_page(request, status, str(exc))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc), **exc.details}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """One error shape for every 4xx: a readable `detail`, and the per-field `errors`."""
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(psycopg.errors.DataError)
    async def refused_value(_request: Request, exc: psycopg.errors.DataError) -> JSONResponse:
        """A value the schema allows and PostgreSQL cannot hold (a NUL character, a date out of
        its range): the request's fault, not the server's."""
        return JSONResponse({"detail": f"invalid value: {exc.diag.message_primary or exc}"}, status_code=422)

    @app.exception_handler(SignInRequiredError)
    async def sign_in_first(_request: Request, _exc: SignInRequiredError) -> RedirectResponse:
        return RedirectResponse("/console/login", status_code=303)

    app.mount("/console/static", StaticFiles(directory=Path(console.__file__).parent / "static"), name="console-static")
    app.include_router(pages.router)
    for module in (
        health,
        dealers,
        merges,  # before customers: /customers/duplicates is not a customer id
        customers,
        contacts,
        households,
        recommendations,
        vehicles,
        features,
        fleet,
        campaigns,
        offers,
        recalls,
        alert_stream,
        alerts,
        incidents,
        deadletters,
        webhooks,
    ):
        app.include_router(module.router)
    return app
