"""Service history: what was done to a vehicle, when and at what mileage.

Maintenance plans count from the last service (or from delivery); rule workers pick up new
services by polling for ids above the last one they saw.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.errors import ForeignKeyViolation

from telemetry.errors import NotFoundError
from telemetry.timeutil import to_epoch_ms

Row = dict[str, object]
_COLUMNS = "id, vehicle_id, performed_at, odometer_km, kind, dealer_id, description, created_at"


async def record(
    conn: psycopg.AsyncConnection,
    *,
    vehicle_id: int,
    performed_at: datetime,
    odometer_km: float,
    kind: str,
    dealer_id: int | None,
    description: str | None,
) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO service_events (vehicle_id, performed_at, odometer_km, kind, dealer_id, description)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (vehicle_id, performed_at, odometer_km, kind, dealer_id, description),
        )
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def history(conn: psycopg.AsyncConnection, *, vehicle_id: int) -> list[Row]:
    """The vehicle's services, newest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM service_events WHERE vehicle_id = %s ORDER BY performed_at DESC, id DESC",
        (vehicle_id,),
    )
    return list(await cur.fetchall())


BASELINES_SQL = (
    "SELECT v.id, s.performed_at, s.odometer_km, v.delivered_on, (SELECT max(id) FROM service_events) AS newest"
    " FROM vehicles v LEFT JOIN LATERAL (SELECT performed_at, odometer_km FROM service_events e"
    "   WHERE e.vehicle_id = v.id AND e.kind = 'scheduled' ORDER BY performed_at DESC, id DESC LIMIT 1) s ON true"
    " WHERE (%(ids)s::integer[] IS NULL OR v.id = ANY(%(ids)s))"
    "   AND (%(after)s = 0"
    "     OR EXISTS (SELECT 1 FROM service_events e WHERE e.vehicle_id = v.id AND e.id > %(after)s))"
)
Baselines = tuple[dict[int, tuple[int, float]], int]


async def baselines(
    conn: psycopg.AsyncConnection, *, vehicle_ids: list[int] | None = None, after_id: int = 0
) -> Baselines:
    """Where each vehicle's maintenance plan counts from: (epoch ms, km) of its last scheduled
    service, or of its delivery at 0 km. With `after_id`, only vehicles with a service recorded
    since that id. Returns the baselines and the newest service id seen."""
    cur = await conn.execute(BASELINES_SQL, {"ids": vehicle_ids, "after": after_id})
    return _baselines(await cur.fetchall(), after_id)


def baselines_sync(conn: psycopg.Connection) -> Baselines:
    """`baselines` of every vehicle, for offline runs."""
    return _baselines(conn.execute(BASELINES_SQL, {"ids": None, "after": 0}).fetchall(), 0)


def _baselines(rows: list[dict], after_id: int) -> Baselines:
    out: dict[int, tuple[int, float]] = {}
    newest = after_id
    for r in rows:
        newest = max(newest, int(r["newest"] or 0))
        if r["performed_at"] is not None:
            out[r["id"]] = (to_epoch_ms(r["performed_at"]), float(r["odometer_km"]))
        elif r["delivered_on"] is not None:
            out[r["id"]] = (to_epoch_ms(datetime(*r["delivered_on"].timetuple()[:3], tzinfo=UTC)), 0.0)
    return out, newest
