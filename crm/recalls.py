"""Recall campaigns: which vehicles they concern (by VIN list, or by make, models and model
years) and which of those still have them open (no service visit has carried the recall out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg.errors import UniqueViolation

from telemetry.errors import ConflictError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_one

_COLUMNS = "r.id, r.code, r.title, r.description, r.make, r.models, r.model_year_from, r.model_year_to, r.issued_on"
_CONCERNS = (
    "(EXISTS (SELECT 1 FROM recall_vins rv WHERE rv.recall_id = r.id AND rv.vin = v.vin)"
    " OR (r.make = v.make AND (r.models IS NULL OR v.model = ANY(r.models))"
    "     AND v.model_year BETWEEN COALESCE(r.model_year_from, 0) AND COALESCE(r.model_year_to, 9999)))"
)


@dataclass(frozen=True, slots=True)
class Recall:
    """A recall campaign: the vehicles it concerns are named one by one, or by make, models and years."""

    id: int
    code: str  # the manufacturer's campaign code
    title: str
    description: str | None
    make: str | None
    models: list[str] | None  # None: every model of the make
    model_year_from: int | None
    model_year_to: int | None
    issued_on: date


@dataclass(frozen=True, slots=True)
class RecallProgress(Recall):
    vehicles: int  # registered vehicles it concerns
    done: int  # of those, how many have had it carried out


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
) -> RecallProgress:
    try:
        cur = await conn.execute(
            "INSERT INTO recalls (code, title, description, make, models, model_year_from, model_year_to,"
            " issued_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
    return await get_by_code(conn, code=code)


async def get_by_code(conn: Conn, *, code: str) -> RecallProgress:
    """The recall, with how many registered vehicles it concerns and how many have had it done."""
    query = (  # one pass over the vehicles concerned, counting both
        f"SELECT {_COLUMNS}, n.vehicles, n.done FROM recalls r CROSS JOIN LATERAL (SELECT count(*) AS vehicles,"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM service_events s WHERE s.vehicle_id = v.id"
        f" AND s.recall_id = r.id)) AS done FROM vehicles v WHERE {_CONCERNS}) n WHERE r.code = %s"
    )
    return await fetch_one(conn, RecallProgress, query, (code,), missing=f"recall {code!r} not found")


async def open_for(conn: Conn, *, vehicle_ids: list[int]) -> dict[int, list[Recall]]:
    """Vehicle id -> its open recalls, oldest first."""
    cur = await conn.execute(
        f"SELECT v.id AS vehicle_id, {_COLUMNS} FROM vehicles v JOIN recalls r ON {_CONCERNS}"
        " WHERE v.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM service_events s"
        "   WHERE s.vehicle_id = v.id AND s.recall_id = r.id)"
        " ORDER BY r.issued_on, r.id",
        (vehicle_ids,),
    )
    out: dict[int, list[Recall]] = {vid: [] for vid in vehicle_ids}
    for row in await cur.fetchall():
        out[int(row.pop("vehicle_id"))].append(Recall(**row))
    return out
