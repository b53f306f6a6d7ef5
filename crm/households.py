"""Households: customers who live together, each with a role over a period. Contact pressure
counts per household, and the advisor sees the household with the customer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime

from psycopg.errors import ForeignKeyViolation, UniqueViolation

from telemetry.errors import ConflictError, InvalidRequestError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_id
from telemetry.vocabulary import HouseholdRole

_MEMBER_COLUMNS = "m.id, m.household_id, m.customer_id, c.name AS customer_name, m.role, m.start_on, m.end_on"
_MEMBERS = "FROM household_members m JOIN customers c ON c.id = m.customer_id"


@dataclass(frozen=True, slots=True)
class Member:
    """A customer's membership of a household, over a period."""

    id: int
    household_id: int
    customer_id: int
    customer_name: str
    role: HouseholdRole
    start_on: date
    end_on: date | None  # None: a current member


@dataclass(frozen=True, slots=True)
class Household:
    id: int
    name: str
    dealer_id: int | None
    created_at: datetime
    members: list[Member] = field(default_factory=list)  # current members first, then past ones


async def create(conn: Conn, *, name: str, dealer_id: int | None) -> int:
    """A new household's id."""
    try:
        return await insert_id(conn, "households", {"name": name, "dealer_id": dealer_id})
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc


async def get(conn: Conn, *, household_id: int) -> Household:
    """The household with all its memberships, current ones first."""
    query = "SELECT id, name, dealer_id, created_at FROM households WHERE id = %s"
    household = await fetch_one(conn, Household, query, (household_id,), missing=f"household {household_id} not found")
    order = "ORDER BY m.end_on IS NOT NULL, m.start_on, m.id"
    members = await fetch_all(
        conn, Member, f"SELECT {_MEMBER_COLUMNS} {_MEMBERS} WHERE m.household_id = %s {order}", (household_id,)
    )
    return replace(household, members=members)


async def add_member(conn: Conn, *, household_id: int, customer_id: int, role: str, start_on: date) -> Member:
    try:
        values = {"household_id": household_id, "customer_id": customer_id, "role": role, "start_on": start_on}
        member_id = await insert_id(conn, "household_members", values)
    except UniqueViolation as exc:
        raise ConflictError(
            f"customer {customer_id} is a current member of another household; end that membership first"
        ) from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"household {household_id} or customer {customer_id} not found") from exc
    return await _member(conn, member_id)


async def end_membership(conn: Conn, *, household_id: int, member_id: int, end_on: date) -> Member:
    cur = await conn.execute(
        "SELECT start_on, end_on FROM household_members WHERE id = %s AND household_id = %s",
        (member_id, household_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"household {household_id} has no membership {member_id}")
    if row["end_on"] is not None:
        raise ConflictError(f"membership {member_id} ended on {row['end_on']} already")
    if end_on < row["start_on"]:
        raise InvalidRequestError(f"end_on {end_on} is before the membership's start_on {row['start_on']}")
    await conn.execute("UPDATE household_members SET end_on = %s WHERE id = %s", (end_on, member_id))
    return await _member(conn, member_id)


async def _member(conn: Conn, member_id: int) -> Member:
    query = f"SELECT {_MEMBER_COLUMNS} {_MEMBERS} WHERE m.id = %s"
    return await fetch_one(conn, Member, query, (member_id,), missing=f"membership {member_id} not found")


async def current_of(conn: Conn, *, customer_id: int) -> Household | None:
    """The customer's current household, with its members, or None."""
    cur = await conn.execute(
        "SELECT household_id FROM household_members WHERE customer_id = %s AND end_on IS NULL", (customer_id,)
    )
    row = await cur.fetchone()
    return None if row is None else await get(conn, household_id=int(row["household_id"]))


async def housemates(conn: Conn, *, customer_ids: list[int]) -> dict[int, list[int]]:
    """Customer -> every customer of their current household (themselves included; alone: [self])."""
    cur = await conn.execute(
        "SELECT me.customer_id AS me, m.customer_id AS mate FROM household_members me"
        " JOIN household_members m ON m.household_id = me.household_id AND m.end_on IS NULL"
        " WHERE me.customer_id = ANY(%s) AND me.end_on IS NULL",
        (customer_ids,),
    )
    out: dict[int, list[int]] = {c: [c] for c in customer_ids}
    for r in await cur.fetchall():
        if r["mate"] != r["me"]:
            out[r["me"]].append(r["mate"])
    return out
