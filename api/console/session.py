"""Signing in to the console: the advisor's API key is checked once and exchanged for a
server-side session (`telemetry/storage/sessions.py`). The browser keeps only the random session
id, in an HttpOnly, SameSite=Strict cookie (Secure behind https); pages carry the session's CSRF
token, which scripts send as X-CSRF-Token and forms as a hidden field. Signing out deletes the
session, so a copied cookie stops working too."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Cookie, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import SESSION_COOKIE
from api.deps import ConnDep, SettingsDep
from telemetry.settings import Settings
from telemetry.storage import sessions
from telemetry.storage.apikeys import Principal, authenticate


class SignInRequiredError(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""


async def console_user(
    request: Request, conn: ConnDep, session_id: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> Principal:
    session = await sessions.find(conn, session_id) if session_id else None
    if session is None:
        raise SignInRequiredError
    request.state.console_session = session
    return session.principal


ConsoleUser = Annotated[Principal, Depends(console_user)]


def advisor_name(request: Request) -> str:
    session: sessions.Session | None = getattr(request.state, "console_session", None)
    return session.advisor if session else "advisor"


def csrf_token(request: Request) -> str:
    session: sessions.Session | None = getattr(request.state, "console_session", None)
    return session.csrf_token if session else ""


def _secure(settings: Settings) -> bool:
    return bool(settings.public_url and settings.public_url.lower().startswith("https://"))


async def sign_in(
    conn: ConnDep, settings: SettingsDep, key: Annotated[str, Form()], name: Annotated[str, Form()]
) -> Response:
    principal = await authenticate(conn, key.strip())
    if principal is None:
        return RedirectResponse("/console/login?failed=1", status_code=303)
    lifetime = timedelta(hours=settings.console_session_hours)
    session_id = await sessions.start(
        conn, key_id=principal.key_id, advisor=name.strip()[:120] or "advisor", lifetime=lifetime
    )
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
        path="/",
    )
    return response


async def sign_out(
    conn: ConnDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
    session_id: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> Response:
    """Ends the session on the server; a sign-out form of another site (no token) ends nothing."""
    response = RedirectResponse("/console/login", status_code=303)
    session = await sessions.find(conn, session_id) if session_id else None
    if session is not None:
        if not hmac.compare_digest(csrf, session.csrf_token):
            return response
        await sessions.end(conn, session_id or "")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(settings), httponly=True, samesite="strict")
    return response
