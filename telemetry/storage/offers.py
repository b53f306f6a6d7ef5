"""Usage-based offers (migration 0016), written by the rule workers and worked by advisors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from telemetry.errors import ConflictError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one
from telemetry.vocabulary import OfferState

_COLUMNS = (
    "o.id, v.vin, o.feature_code, o.rule_id, o.state, o.reason, o.first_seen, o.last_seen, o.closed_at,"
    " o.closed_by, o.entitlement_id, o.created_at"
)
QUIET_AFTER_CLOSE = timedelta(days=180)  # an offer dismissed or accepted is not made again this soon


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as stored, with its vehicle's VIN (the columns of _COLUMNS)."""

    id: int
    vin: str
    feature_code: str
    rule_id: str  # the usage rule that found it
    state: OfferState
    reason: str  # what in the vehicle's use suggests the option
    first_seen: datetime
    last_seen: datetime
    closed_at: datetime | None
    closed_by: str | None
    entitlement_id: int | None  # the trial it became
    created_at: datetime


async def fire(
    conn: Conn,
    *,
    vehicle_id: int,
    feature_code: str,
    rule_id: str,
    reason: str,
    first_seen: datetime,
    last_seen: datetime,
) -> int | None:
    """Open the offer, or refresh the open one; None when nothing changes: a replayed firing
    (no later than what is recorded) or an offer closed by a person less than QUIET_AFTER_CLOSE ago."""
    cur = await conn.execute(
        "SELECT 1 FROM offers WHERE vehicle_id = %(v)s AND feature_code = %(f)s AND (last_seen > %(t)s"
        " OR closed_at >= %(t)s OR (state IN ('accepted', 'dismissed') AND closed_at >= %(t)s - %(quiet)s))",
        {"v": vehicle_id, "f": feature_code, "t": last_seen, "quiet": QUIET_AFTER_CLOSE},
    )
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "INSERT INTO offers AS o (vehicle_id, feature_code, rule_id, reason, first_seen, last_seen)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (vehicle_id, feature_code) WHERE state = 'open' DO UPDATE SET"
        " last_seen = GREATEST(o.last_seen, EXCLUDED.last_seen), reason = EXCLUDED.reason RETURNING id",
        (vehicle_id, feature_code, rule_id, reason, first_seen, last_seen),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def withdraw(conn: Conn, *, vehicle_id: int, feature_code: str, at: datetime) -> None:
    """The usage pattern stopped (spring came): the open offer is withdrawn."""
    await conn.execute(
        "UPDATE offers SET state = 'withdrawn', closed_at = %s, closed_by = 'rules' WHERE vehicle_id = %s"
        " AND feature_code = %s AND state = 'open' AND last_seen <= %s",
        (at, vehicle_id, feature_code, at),
    )


async def get(conn: Conn, *, offer_id: int) -> Offer:
    query = f"SELECT {_COLUMNS} FROM offers o JOIN vehicles v ON v.id = o.vehicle_id WHERE o.id = %s"
    return await fetch_one(conn, Offer, query, (offer_id,), missing=f"offer {offer_id} not found")


async def of_vehicles(conn: Conn, *, vehicle_ids: list[int], states: list[str]) -> list[Offer]:
    query = (
        f"SELECT {_COLUMNS} FROM offers o JOIN vehicles v ON v.id = o.vehicle_id"
        " WHERE o.vehicle_id = ANY(%s) AND o.state = ANY(%s) ORDER BY o.created_at DESC, o.id DESC"
    )
    return await fetch_all(conn, Offer, query, (vehicle_ids, states))


async def close(conn: Conn, *, offer_id: int, state: str, by: str, entitlement_id: int | None = None) -> Offer:
    cur = await conn.execute(
        "UPDATE offers SET state = %s, closed_at = now(), closed_by = %s, entitlement_id = %s"
        " WHERE id = %s AND state = 'open' RETURNING id",
        (state, by, entitlement_id, offer_id),
    )
    if await cur.fetchone() is None:
        current = await get(conn, offer_id=offer_id)
        raise ConflictError(f"offer {offer_id} is {current.state}, not open")
    return await get(conn, offer_id=offer_id)
