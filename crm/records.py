"""Dealers, customers and vehicles: plain data access, keyword-only, inside the caller's transaction."""

from __future__ import annotations

from psycopg import sql
from psycopg.errors import CheckViolation, ForeignKeyViolation, UniqueViolation

from telemetry.errors import ConflictError, InvalidRequestError, NotFoundError
from telemetry.storage.db import Conn, Row

VEHICLE_FIELDS = (
    "vin", "make", "model", "model_year", "powertrain", "owner_customer_id", "dealer_id", "vss_version",
    "delivered_on", "registration", "warranty_start", "warranty_end", "preferred_dealer_id", "software_version",
    "hardware",
)  # fmt: skip
CUSTOMER_COLUMNS = "id, kind, name, email, phone, postcode, dealer_id, merged_into, created_at"
_BRANCH_COLUMNS = "id, dealer_id, code, name, city, postcode, created_at"
_VEHICLE_COLUMNS = "id, " + ", ".join(VEHICLE_FIELDS) + ", dropped_samples, created_at"  # the last two: server-set


async def create_dealer(conn: Conn, *, code: str, name: str) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO dealers (code, name) VALUES (%s, %s) RETURNING id, code, name, created_at", (code, name)
        )
    except UniqueViolation as exc:
        raise ConflictError(f"dealer code {code!r} exists already") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_dealer(conn: Conn, *, dealer_id: int) -> Row:
    cur = await conn.execute("SELECT id, code, name, created_at FROM dealers WHERE id = %s", (dealer_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"dealer {dealer_id} not found")
    return row


async def list_dealers(conn: Conn) -> list[Row]:
    cur = await conn.execute("SELECT id, code, name, created_at FROM dealers ORDER BY id")
    return list(await cur.fetchall())


async def create_branch(
    conn: Conn, *, dealer_id: int, code: str, name: str, city: str | None, postcode: str | None
) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO dealer_branches (dealer_id, code, name, city, postcode) VALUES (%s, %s, %s, %s, %s)"
            f" RETURNING {_BRANCH_COLUMNS}",
            (dealer_id, code, name, city, postcode),
        )
    except UniqueViolation as exc:
        raise ConflictError(f"dealer {dealer_id} has a branch {code!r} already") from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_branch(conn: Conn, *, branch_id: int) -> Row:
    cur = await conn.execute(f"SELECT {_BRANCH_COLUMNS} FROM dealer_branches WHERE id = %s", (branch_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"branch {branch_id} not found")
    return row


async def branches(conn: Conn, *, dealer_id: int) -> list[Row]:
    cur = await conn.execute(
        f"SELECT {_BRANCH_COLUMNS} FROM dealer_branches WHERE dealer_id = %s ORDER BY code", (dealer_id,)
    )
    return list(await cur.fetchall())


async def create_customer(
    conn: Conn,
    *,
    kind: str,
    name: str,
    email: str | None,
    phone: str | None,
    postcode: str | None,
    dealer_id: int | None,
) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO customers (kind, name, email, phone, postcode, dealer_id) VALUES (%s, %s, %s, %s, %s, %s)"
            f" RETURNING {CUSTOMER_COLUMNS}",
            (kind, name, email, phone, postcode, dealer_id),
        )
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_customer(conn: Conn, *, customer_id: int) -> Row:
    cur = await conn.execute(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = %s",
        (customer_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"customer {customer_id} not found")
    return row


async def customer_dealers(conn: Conn, *, customer_id: int) -> set[int]:
    """The dealers of the customer's record and of every source record merged into it."""
    cur = await conn.execute(
        "WITH RECURSIVE behind AS (SELECT id, dealer_id FROM customers WHERE id = %s"
        " UNION SELECT c.id, c.dealer_id FROM customers c JOIN behind b ON c.merged_into = b.id)"
        " SELECT DISTINCT dealer_id FROM behind WHERE dealer_id IS NOT NULL",
        (customer_id,),
    )
    return {int(r["dealer_id"]) for r in await cur.fetchall()}


async def create_vehicle(conn: Conn, **values: object) -> Row:
    """Insert a vehicle; `values` are columns of VEHICLE_FIELDS (those omitted take their default)."""
    names = [n for n in VEHICLE_FIELDS if n in values]
    try:
        cur = await conn.execute(
            sql.SQL("INSERT INTO vehicles ({}) VALUES ({}) RETURNING " + _VEHICLE_COLUMNS).format(
                sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(sql.Placeholder() * len(names))
            ),
            [values[n] for n in names],
        )
    except UniqueViolation as exc:
        raise ConflictError(f"vehicle {values.get('vin')} is registered already") from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"owner customer, dealer or preferred dealer not found: {exc.diag.message_detail}") from exc
    except CheckViolation as exc:
        raise InvalidRequestError(f"vehicle refused: {exc.diag.constraint_name}") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_vehicle(conn: Conn, *, vin: str, changes: dict[str, object]) -> Row:
    """Change some of the vehicle's registration fields (owner, dealers, registration, warranty)."""
    if not changes:
        return await get_vehicle(conn, vin=vin)
    try:
        cur = await conn.execute(
            sql.SQL("UPDATE vehicles SET {} WHERE vin = {} RETURNING " + _VEHICLE_COLUMNS).format(
                sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder()) for n in changes),
                sql.Placeholder(),
            ),
            [*changes.values(), vin],
        )
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"owner customer, dealer or preferred dealer not found: {exc.diag.message_detail}") from exc
    except CheckViolation as exc:
        raise InvalidRequestError(f"vehicle refused: {exc.diag.constraint_name}") from exc
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"vehicle {vin} not found")
    return row


async def get_vehicle(conn: Conn, *, vin: str) -> Row:
    cur = await conn.execute(f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE vin = %s", (vin,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"vehicle {vin} not found")
    return row


async def vehicles_of_customer(conn: Conn, *, customer_id: int) -> list[Row]:
    cur = await conn.execute(
        f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE owner_customer_id = %s ORDER BY id", (customer_id,)
    )
    return list(await cur.fetchall())


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
