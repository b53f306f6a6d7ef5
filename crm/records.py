"""Dealers, customers and vehicles: plain data access, keyword-only, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from psycopg import sql
from psycopg.errors import CheckViolation, ForeignKeyViolation, UniqueViolation

from telemetry.errors import ConflictError, InvalidRequestError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_one, select_list
from telemetry.vocabulary import CustomerKind, Powertrain

VEHICLE_FIELDS = (
    "vin", "make", "model", "model_year", "powertrain", "owner_customer_id", "dealer_id", "vss_version",
    "delivered_on", "registration", "warranty_start", "warranty_end", "preferred_dealer_id", "software_version",
    "hardware",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dealer:
    id: int
    code: str
    name: str
    created_at: datetime


_DEALER_COLUMNS = select_list(Dealer, "dealers")


@dataclass(frozen=True, slots=True)
class Branch:
    id: int
    dealer_id: int
    code: str
    name: str
    city: str | None
    postcode: str | None
    created_at: datetime


_BRANCH_COLUMNS = select_list(Branch, "dealer_branches")


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    kind: CustomerKind
    name: str
    email: str | None
    phone: str | None
    postcode: str | None
    dealer_id: int | None
    merged_into: int | None  # set on a source record: its golden record
    created_at: datetime


CUSTOMER_COLUMNS = select_list(Customer, "customers")


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle as registered (the columns of VEHICLE_FIELDS) with what the server keeps of it."""

    id: int
    vin: str
    make: str
    model: str
    model_year: int
    powertrain: Powertrain
    owner_customer_id: int | None
    dealer_id: int | None
    vss_version: str
    delivered_on: date | None
    registration: str | None
    warranty_start: date | None
    warranty_end: date | None
    preferred_dealer_id: int | None
    software_version: str | None
    hardware: list[str]
    dropped_samples: int | None  # what the vehicle's own buffer dropped, in all, as it last reported
    created_at: datetime


_VEHICLE_COLUMNS = select_list(Vehicle, "vehicles")


async def create_dealer(conn: Conn, *, code: str, name: str) -> Dealer:
    try:
        return await insert_one(conn, Dealer, "dealers", {"code": code, "name": name})
    except UniqueViolation as exc:
        raise ConflictError(f"dealer code {code!r} exists already") from exc


async def get_dealer(conn: Conn, *, dealer_id: int) -> Dealer:
    query = f"SELECT {_DEALER_COLUMNS} FROM dealers WHERE id = %s"
    return await fetch_one(conn, Dealer, query, (dealer_id,), missing=f"dealer {dealer_id} not found")


async def list_dealers(conn: Conn) -> list[Dealer]:
    return await fetch_all(conn, Dealer, f"SELECT {_DEALER_COLUMNS} FROM dealers ORDER BY id")


async def create_branch(
    conn: Conn, *, dealer_id: int, code: str, name: str, city: str | None, postcode: str | None
) -> Branch:
    try:
        values = {"dealer_id": dealer_id, "code": code, "name": name, "city": city, "postcode": postcode}
        return await insert_one(conn, Branch, "dealer_branches", values)
    except UniqueViolation as exc:
        raise ConflictError(f"dealer {dealer_id} has a branch {code!r} already") from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc


async def get_branch(conn: Conn, *, branch_id: int) -> Branch:
    query = f"SELECT {_BRANCH_COLUMNS} FROM dealer_branches WHERE id = %s"
    return await fetch_one(conn, Branch, query, (branch_id,), missing=f"branch {branch_id} not found")


async def branches(conn: Conn, *, dealer_id: int) -> list[Branch]:
    query = f"SELECT {_BRANCH_COLUMNS} FROM dealer_branches WHERE dealer_id = %s ORDER BY code"
    return await fetch_all(conn, Branch, query, (dealer_id,))


async def create_customer(
    conn: Conn,
    *,
    kind: str,
    name: str,
    email: str | None,
    phone: str | None,
    postcode: str | None,
    dealer_id: int | None,
) -> Customer:
    try:
        values = {"kind": kind, "name": name, "email": email, "phone": phone, "postcode": postcode,
                  "dealer_id": dealer_id}  # fmt: skip
        return await insert_one(conn, Customer, "customers", values)
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc


async def get_customer(conn: Conn, *, customer_id: int) -> Customer:
    query = f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = %s"
    return await fetch_one(conn, Customer, query, (customer_id,), missing=f"customer {customer_id} not found")


async def customer_dealers(conn: Conn, *, customer_id: int) -> set[int]:
    """The dealers of the customer's record and of every source record merged into it."""
    cur = await conn.execute(
        "WITH RECURSIVE behind AS (SELECT id, dealer_id FROM customers WHERE id = %s"
        " UNION SELECT c.id, c.dealer_id FROM customers c JOIN behind b ON c.merged_into = b.id)"
        " SELECT DISTINCT dealer_id FROM behind WHERE dealer_id IS NOT NULL",
        (customer_id,),
    )
    return {int(r["dealer_id"]) for r in await cur.fetchall()}


@contextmanager
def _vehicle_refusals(vin: str) -> Iterator[None]:
    """What the database refuses of a vehicle's fields, as the errors the API answers with."""
    try:
        yield
    except UniqueViolation as exc:
        raise ConflictError(f"vehicle {vin} is registered already") from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"owner customer, dealer or preferred dealer not found: {exc.diag.message_detail}") from exc
    except CheckViolation as exc:
        raise InvalidRequestError(f"vehicle refused: {exc.diag.constraint_name}") from exc


async def create_vehicle(conn: Conn, **values: object) -> Vehicle:
    """Insert a vehicle; `values` are columns of VEHICLE_FIELDS (those omitted take their default)."""
    with _vehicle_refusals(str(values.get("vin"))):
        return await insert_one(conn, Vehicle, "vehicles", {n: values[n] for n in VEHICLE_FIELDS if n in values})


async def update_vehicle(conn: Conn, *, vin: str, changes: dict[str, object]) -> Vehicle:
    """Change some of the vehicle's registration fields (owner, dealers, registration, warranty)."""
    if not changes:
        return await get_vehicle(conn, vin=vin)
    with _vehicle_refusals(vin):
        return await fetch_one(
            conn,
            Vehicle,
            sql.SQL("UPDATE vehicles SET {} WHERE vin = {} RETURNING " + _VEHICLE_COLUMNS).format(
                sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder()) for n in changes),
                sql.Placeholder(),
            ),
            [*changes.values(), vin],
            missing=f"vehicle {vin} not found",
        )


async def get_vehicle(conn: Conn, *, vin: str) -> Vehicle:
    query = f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE vin = %s"
    return await fetch_one(conn, Vehicle, query, (vin,), missing=f"vehicle {vin} not found")


async def vehicles_of_customer(conn: Conn, *, customer_id: int) -> list[Vehicle]:
    query = f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE owner_customer_id = %s ORDER BY id"
    return await fetch_all(conn, Vehicle, query, (customer_id,))


async def erase_customer(conn: Conn, *, customer_id: int) -> list[str]:
    """Remove the customer's personal data, and that of the source records merged into it: names
    pseudonymised, contact data and consents gone, vehicles unlinked (their telemetry no longer
    points at a person). Service history and alerts belong to the vehicles and stay, as invoices
    must. Returns the VINs unlinked."""
    cur = await conn.execute(
        "WITH RECURSIVE behind AS (SELECT id FROM customers WHERE id = %s"
        " UNION SELECT c.id FROM customers c JOIN behind b ON c.merged_into = b.id)"
        " UPDATE customers SET name = 'erased customer ' || id, email = NULL, phone = NULL, postcode = NULL,"
        " erased_at = now() WHERE id IN (SELECT id FROM behind) RETURNING id",
        (customer_id,),
    )
    erased = [int(r["id"]) for r in await cur.fetchall()]
    if not erased:
        raise NotFoundError(f"customer {customer_id} not found")
    await conn.execute("DELETE FROM consents WHERE customer_id = ANY(%s)", (erased,))
    cur = await conn.execute(
        "UPDATE vehicles SET owner_customer_id = NULL WHERE owner_customer_id = ANY(%s) RETURNING vin", (erased,)
    )
    return [str(r["vin"]) for r in await cur.fetchall()]
