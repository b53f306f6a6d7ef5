"""Rendering the console's templates, shared by its page modules."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.console.session import advisor_name, csrf_token
from telemetry.storage.apikeys import Principal

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def page(request: Request, name: str, principal: Principal, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"principal": principal, "advisor": advisor_name(request), "csrf_token": csrf_token(request), **context},
    )


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status, "detail": detail}, status_code=status)
