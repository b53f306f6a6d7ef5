"""The contact log: who was contacted, about which vehicle, why, how, and what came of it."""

from __future__ import annotations

from datetime import datetime

from psycopg.errors import ForeignKeyViolation

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn, Row

_COLUMNS = (
    "k.id, k.customer_id, v.vin, k.dealer_id, k.alert_id, k.channel, k.purpose, k.outcome, k.note, k.contacted_at,"
    " k.by, k.created_at"
)


async def record(
    conn: Conn,
    *,
    customer_id: int,
    vehicle_id: int | None,
    dealer_id: int | None,
    alert_id: int | None,
    channel: str,
    purpose: str,
    outcome: str,
    note: str | None,
    contacted_at: datetime,
    by: str,
) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO contacts (customer_id, vehicle_id, dealer_id, alert_id, channel, purpose, outcome, note,"
            " contacted_at, by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (customer_id, vehicle_id, dealer_id, alert_id, channel, purpose, outcome, note, contacted_at, by),
        )
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer or alert not found: {exc.diag.message_detail}") from exc
    row = await cur.fetchone()
    assert row is not None
    return (await _select(conn, "k.id = %s", (row["id"],)))[0]


async def of_customer(conn: Conn, *, customer_id: int, limit: int = 200) -> list[Row]:
    """The customer's contacts, newest first."""
    return await _select(
        conn, "k.customer_id = %s ORDER BY k.contacted_at DESC, k.id DESC LIMIT %s", (customer_id, limit)
    )


async def _select(conn: Conn, where: str, params: tuple[object, ...]) -> list[Row]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM contacts k LEFT JOIN vehicles v ON v.id = k.vehicle_id WHERE {where}", params
    )
    return list(await cur.fetchall())
