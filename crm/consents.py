"""Consent per purpose: recorded as a history, the latest grant or withdrawal in force.

Location history is enforced where samples are written: the ingest worker asks, batch by
batch, which of the batch's vehicles belong to a customer who allows it (`location_allowed`),
so a withdrawal takes effect with the next batch.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.errors import ForeignKeyViolation

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn, Row
from telemetry.vocabulary import ConsentPurpose

PURPOSES = tuple(ConsentPurpose)


async def record(conn: Conn, *, customer_id: int, purpose: str, granted: bool, given_at: datetime, source: str) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO consents (customer_id, purpose, granted, given_at, source) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id, customer_id, purpose, granted, given_at, source, recorded_at",
            (customer_id, purpose, granted, given_at, source),
        )
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"customer {customer_id} not found") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def current(conn: Conn, *, customer_id: int) -> dict[str, Row]:
    """Purpose -> the grant or withdrawal in force; a purpose never asked is absent (not granted)."""
    cur = await conn.execute(
        "SELECT purpose, granted, given_at, source FROM current_consents WHERE customer_id = %s", (customer_id,)
    )
    return {str(r["purpose"]): r for r in await cur.fetchall()}


async def history(conn: Conn, *, customer_id: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT id, customer_id, purpose, granted, given_at, source, recorded_at FROM consents"
        " WHERE customer_id = %s ORDER BY given_at DESC, id DESC",
        (customer_id,),
    )
    return list(await cur.fetchall())
