"""Recall campaigns: which vehicles they concern (by VIN list, or by make, models and model
years) and which of those still have them open (no service visit has carried the recall out)."""

from __future__ import annotations

from datetime import date

from psycopg.errors import UniqueViolation

from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage.db import Conn, Row

_COLUMNS = "r.id, r.code, r.title, r.description, r.make, r.models, r.model_year_from, r.model_year_to, r.issued_on"
_CONCERNS = (
    "(EXISTS (SELECT 1 FROM recall_vins rv WHERE rv.recall_id = r.id AND rv.vin = v.vin)"
    " OR (r.make = v.make AND (r.models IS NULL OR v.model = ANY(r.models))"
    "     AND v.model_year BETWEEN COALESCE(r.model_year_from, 0) AND COALESCE(r.model_year_to, 9999)))"
)


async def create(
    conn: Conn,
    *,
    code: str,
    title: str,
    description: str | None,
    make: str | None,
    models: list[str] | None,
    model_year_from: int | None,
    model_year_to: int | None,
    issued_on: date,
    vins: list[str],
) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO recalls AS r (code, title, description, make, models, model_year_from, model_year_to,"
            f" issued_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (code, title, description, make, models, model_year_from, model_year_to, issued_on),
        )
    except UniqueViolation as exc:
        raise ConflictError(f"recall {code!r} exists already") from exc
    row = await cur.fetchone()
    assert row is not None
    if vins:
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO recall_vins (recall_id, vin) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(row["id"], vin) for vin in vins],
            )
    return await _with_counts(conn, row)


async def get_by_code(conn: Conn, *, code: str) -> Row:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM recalls r WHERE r.code = %s", (code,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"recall {code!r} not found")
    return await _with_counts(conn, row)


async def _with_counts(conn: Conn, recall: Row) -> Row:
    """How many registered vehicles it concerns, and how many of them have had it done."""
    cur = await conn.execute(
        f"SELECT count(*) AS vehicles, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM service_events s"
        f" WHERE s.vehicle_id = v.id AND s.recall_id = r.id)) AS done FROM recalls r JOIN vehicles v ON {_CONCERNS}"
        " WHERE r.id = %s",
        (recall["id"],),
    )
    counts = await cur.fetchone()
    assert counts is not None
    return {**recall, **counts}


async def open_for(conn: Conn, *, vehicle_ids: list[int]) -> dict[int, list[Row]]:
    """Vehicle id -> its open recalls, oldest first."""
    cur = await conn.execute(
        f"SELECT v.id AS vehicle_id, {_COLUMNS} FROM vehicles v JOIN recalls r ON {_CONCERNS}"
        " WHERE v.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM service_events s"
        "   WHERE s.vehicle_id = v.id AND s.recall_id = r.id)"
        " ORDER BY r.issued_on, r.id",
        (vehicle_ids,),
    )
    out: dict[int, list[Row]] = {vid: [] for vid in vehicle_ids}
    for row in await cur.fetchall():
        out[int(row.pop("vehicle_id"))].append(row)
    return out
