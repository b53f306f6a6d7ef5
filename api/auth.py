"""Who is calling: the API key in `Authorization: Bearer ...`, its role and, for advisors, the
dealer whose customers, vehicles and alerts it may see. Records of other dealers answer 404,
exactly as records that do not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import psycopg
from fastapi import Cookie, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ConnDep
from telemetry.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from telemetry.storage import records
from telemetry.storage.apikeys import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key from `telemetry keys create`")

ALL = ("admin", "oem", "advisor", "vehicle-readonly")
VEHICLE_WRITERS = ("admin", "oem", "advisor")
CUSTOMER_ROLES = ("admin", "advisor")


CONSOLE_COOKIE = "telemetry_key"  # the web console's sign-in: the same API key, kept in a cookie


async def get_principal(
    conn: ConnDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    console_key: Annotated[str | None, Cookie(alias=CONSOLE_COOKIE, include_in_schema=False)] = None,
) -> Principal:
    key = credentials.credentials if credentials is not None else console_key
    if key is None:
        raise AuthenticationError("send an API key: Authorization: Bearer <key>")
    principal = await authenticate(conn, key)
    if principal is None:
        raise AuthenticationError("unknown or revoked API key")
    return principal


def allow(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only these roles through."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise PermissionDeniedError(f"an API key with role {principal.role!r} may not do this")
        return principal

    return check


def sees_dealer(principal: Principal, dealer_id: object) -> bool:
    return principal.role != "advisor" or dealer_id == principal.dealer_id


def require_dealer(principal: Principal, dealer_id: int | None) -> None:
    """An advisor writes records for its own dealer only."""
    if principal.role == "advisor" and dealer_id != principal.dealer_id:
        raise PermissionDeniedError(f"an advisor key works for dealer {principal.dealer_id} only")


async def visible_vehicle(conn: psycopg.AsyncConnection, principal: Principal, vin: str) -> dict[str, object]:
    vehicle = await records.get_vehicle(conn, vin=vin)
    if not sees_dealer(principal, vehicle["dealer_id"]):
        raise NotFoundError(f"vehicle {vin} not found")
    return vehicle


async def visible_customer(conn: psycopg.AsyncConnection, principal: Principal, customer_id: int) -> dict[str, object]:
    """The customer, if the key may see it: an advisor sees a record of their dealer, and a golden
    record with a source record of their dealer merged into it."""
    customer = await records.get_customer(conn, customer_id=customer_id)
    if principal.role == "advisor" and principal.dealer_id not in await records.customer_dealers(
        conn, customer_id=customer_id
    ):
        raise NotFoundError(f"customer {customer_id} not found")
    return customer


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
