"""Who is calling: the API key in `Authorization: Bearer ...` (or the console's session), its role
and, for advisors, the dealer whose customers, vehicles and alerts it may see. Every record a
caller names, in the path or in the body, is checked here: records of other dealers answer 404,
exactly as records that do not exist."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Cookie, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ConnDep
from crm import records
from telemetry.errors import AuthenticationError, InvalidRequestError, NotFoundError, PermissionDeniedError
from telemetry.storage import alerts, incidents, sessions
from telemetry.storage.apikeys import Principal, authenticate
from telemetry.storage.db import Conn

_bearer = HTTPBearer(auto_error=False, description="An API key from `telemetry keys create`")

ALL = ("admin", "oem", "advisor", "vehicle-readonly")
VEHICLE_WRITERS = ("admin", "oem", "advisor")
CUSTOMER_ROLES = ("admin", "advisor")


SESSION_COOKIE = "telemetry_session"  # the web console's sign-in: a session id, never the key itself
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_principal(
    request: Request,
    conn: ConnDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_id: Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)] = None,
) -> Principal:
    """The bearer key, else the console's session. A request that changes something with the
    session cookie must echo the session's CSRF token in X-CSRF-Token: a page of another site can
    make the browser send the cookie, but it cannot read the token."""
    if credentials is not None:
        principal = await authenticate(conn, credentials.credentials)
        if principal is None:
            raise AuthenticationError("unknown or revoked API key")
        return principal
    if session_id is None:
        raise AuthenticationError("send an API key: Authorization: Bearer <key>")
    session = await sessions.find(conn, session_id)
    if session is None:
        raise AuthenticationError("the console session has ended: sign in again")
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, ""), session.csrf_token
    ):
        raise PermissionDeniedError(f"a change made with the console's session needs its {CSRF_HEADER} header")
    request.state.session_id = session_id  # long-lived streams check it is still open
    return session.principal


def allow(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only these roles through."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise PermissionDeniedError(f"an API key with role {principal.role!r} may not do this")
        return principal

    return check


def sees_dealer(principal: Principal, dealer_id: object) -> bool:
    return principal.role != "advisor" or dealer_id == principal.dealer_id


async def writable_dealer(conn: Conn, principal: Principal, dealer_id: int | None) -> None:
    """A dealer named in a body. An advisor writes records for its own dealer only: another
    dealer's id answers exactly like one that does not exist, no dealer at all is a 403."""
    if dealer_id is None:
        if principal.role == "advisor":
            raise PermissionDeniedError(f"an advisor key works for dealer {principal.dealer_id} only")
        return
    await referenced_dealer(conn, principal, dealer_id)


async def referenced_dealer(conn: Conn, principal: Principal, dealer_id: int | None) -> None:
    """A dealer named in a body, where none is allowed too (a preferred dealer, say)."""
    if dealer_id is not None:
        await visible_dealer(conn, principal, dealer_id)


async def referenced_branch(conn: Conn, principal: Principal, branch_id: int, dealer_id: int | None) -> None:
    """A branch named in a body: one the key may see, of the dealer the record is for."""
    branch = await records.get_branch(conn, branch_id=branch_id)
    if not sees_dealer(principal, branch.dealer_id):
        raise NotFoundError(f"branch {branch_id} not found")
    if dealer_id is not None and branch.dealer_id != dealer_id:
        raise InvalidRequestError(f"branch {branch_id} is not a branch of dealer {dealer_id}")


async def referenced_owner(conn: Conn, principal: Principal, customer_id: int | None) -> None:
    """An owner named in a body: only keys that may see customers may name one, and only one they see."""
    if customer_id is None:
        return
    if principal.role not in CUSTOMER_ROLES:
        raise PermissionDeniedError(f"an API key with role {principal.role!r} may not set a vehicle's owner")
    await visible_customer(conn, principal, customer_id)


async def visible_dealer(conn: Conn, principal: Principal, dealer_id: int) -> records.Dealer:
    if not sees_dealer(principal, dealer_id):
        raise NotFoundError(f"dealer {dealer_id} not found")
    return await records.get_dealer(conn, dealer_id=dealer_id)


async def visible_vehicle(conn: Conn, principal: Principal, vin: str) -> records.Vehicle:
    vehicle = await records.get_vehicle(conn, vin=vin)
    if not sees_dealer(principal, vehicle.dealer_id):
        raise NotFoundError(f"vehicle {vin} not found")
    return vehicle


async def visible_customer(conn: Conn, principal: Principal, customer_id: int) -> records.Customer:
    """The customer, if the key may see it: an advisor sees a record of their dealer, and a golden
    record with a source record of their dealer merged into it."""
    customer = await records.get_customer(conn, customer_id=customer_id)
    if principal.role == "advisor" and principal.dealer_id not in await records.customer_dealers(
        conn, customer_id=customer_id
    ):
        raise NotFoundError(f"customer {customer_id} not found")
    return customer


async def visible_alert(conn: Conn, principal: Principal, alert_id: int) -> alerts.Alert:
    alert = await alerts.get(conn, alert_id=alert_id)
    vehicle = await records.get_vehicle(conn, vin=alert.vin)
    if not sees_dealer(principal, vehicle.dealer_id):
        raise NotFoundError(f"alert {alert_id} not found")
    return alert


async def visible_incident(conn: Conn, principal: Principal, incident_id: int) -> incidents.Incident:
    incident = await incidents.get(conn, incident_id=incident_id)
    if not sees_dealer(principal, incident.dealer_id):
        raise NotFoundError(f"incident {incident_id} not found")
    return incident


def as_seen_by(principal: Principal, candidate: dict[str, object], id_field: str = "customer_id") -> dict[str, object]:
    """An advisor learns that another dealer has the person, and why, but not who it is."""
    if sees_dealer(principal, candidate["dealer_id"]):
        return candidate
    return {**candidate, id_field: None, "name": None, "email": None, "phone": None}


Anyone = Annotated[Principal, Depends(allow(*ALL))]
VehicleWriter = Annotated[Principal, Depends(allow(*VEHICLE_WRITERS))]
CustomerUser = Annotated[Principal, Depends(allow(*CUSTOMER_ROLES))]
Admin = Annotated[Principal, Depends(allow("admin"))]
DealerReader = Annotated[Principal, Depends(allow("admin", "oem", "advisor"))]
OemOrAdmin = Annotated[Principal, Depends(allow("admin", "oem"))]


async def _seen_vehicle(vin: str, conn: ConnDep, principal: Anyone) -> records.Vehicle:
    return await visible_vehicle(conn, principal, vin)


SeenVehicle = Annotated[records.Vehicle, Depends(_seen_vehicle)]
"""The path's vehicle (`{vin}`), for any key that sees it; one it does not see is a 404."""


# The path's record for an advisor's or admin's key (403 for another role), when the key sees it:
# a route that takes one cannot forget the check, and a record out of reach is a 404 like one
# that does not exist.


async def _seen_alert(alert_id: int, conn: ConnDep, principal: CustomerUser) -> alerts.Alert:
    return await visible_alert(conn, principal, alert_id)


async def _seen_incident(incident_id: int, conn: ConnDep, principal: CustomerUser) -> incidents.Incident:
    return await visible_incident(conn, principal, incident_id)


async def _seen_customer(customer_id: int, conn: ConnDep, principal: CustomerUser) -> records.Customer:
    return await visible_customer(conn, principal, customer_id)


async def _seen_dealer(dealer_id: int, conn: ConnDep, principal: CustomerUser) -> records.Dealer:
    return await visible_dealer(conn, principal, dealer_id)


SeenAlert = Annotated[alerts.Alert, Depends(_seen_alert)]
SeenIncident = Annotated[incidents.Incident, Depends(_seen_incident)]
SeenCustomer = Annotated[records.Customer, Depends(_seen_customer)]
SeenDealer = Annotated[records.Dealer, Depends(_seen_dealer)]
