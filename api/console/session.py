"""Signing in to the console: the advisor's API key, checked, then kept in an HttpOnly,
SameSite=Strict cookie that the API accepts like a bearer key (`api.auth.get_principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import CONSOLE_COOKIE
from api.deps import ConnDep
from telemetry.storage.apikeys import Principal, authenticate

NAME_COOKIE = "telemetry_advisor"  # who acts: shown, and sent as `by` with every action
MAX_AGE_S = 12 * 3600  # a working day


class SignInRequiredError(Exception):
    """No valid key in the cookie: the page answers with a redirect to the sign-in page."""


async def console_user(conn: ConnDep, key: Annotated[str | None, Cookie(alias=CONSOLE_COOKIE)] = None) -> Principal:
    principal = await authenticate(conn, key) if key else None
    if principal is None:
        raise SignInRequiredError
    return principal


ConsoleUser = Annotated[Principal, Depends(console_user)]


def advisor_name(request: Request) -> str:
    return request.cookies.get(NAME_COOKIE) or "advisor"


async def sign_in(conn: ConnDep, key: Annotated[str, Form()], name: Annotated[str, Form()]) -> Response:
    principal = await authenticate(conn, key.strip())
    if principal is None:
        return RedirectResponse("/console/login?failed=1", status_code=303)
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(CONSOLE_COOKIE, key.strip(), max_age=MAX_AGE_S, httponly=True, samesite="strict")
    response.set_cookie(NAME_COOKIE, name.strip()[:120] or "advisor", max_age=MAX_AGE_S, samesite="strict")
    return response


def sign_out() -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(CONSOLE_COOKIE)
    response.delete_cookie(NAME_COOKIE)
    return response
