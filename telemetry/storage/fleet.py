"""What ingest and the rule engine need to know about the fleet's vehicles, read where the customer
records keep it: which VIN is which vehicle, the software version it reported, whether its owner
allows location history, and where its maintenance plan counts from. The core's window onto the
records, so that neither ingest nor rules reach into `crm`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from psycopg import sql

from telemetry.storage.db import Conn, Row, SyncConn
from telemetry.timeutil import to_epoch_ms


async def report_software_versions(conn: Conn, versions: dict[int, str]) -> None:
    """The software versions vehicles reported in their telemetry; unchanged ones write nothing."""
    await _report(conn, "software_version", "text", versions)


async def report_dropped_samples(conn: Conn, dropped: dict[int, int]) -> None:
    """How many samples each vehicle's own buffer dropped when full (its lifetime count, as last
    reported: a redelivered report counts nothing twice)."""
    await _report(conn, "dropped_samples", "bigint", dropped)


async def _report(conn: Conn, column: str, pg_type: str, values: Mapping[int, object]) -> None:
    """Set what vehicles reported about themselves (vehicle id -> value); unchanged rows write nothing."""
    if values:
        await conn.execute(
            sql.SQL(
                "UPDATE vehicles v SET {c} = r.value FROM unnest(%s::integer[], %s::{t}[]) AS r(id, value)"
                " WHERE v.id = r.id AND v.{c} IS DISTINCT FROM r.value"
            ).format(c=sql.Identifier(column), t=sql.SQL(pg_type)),
            (list(values), list(values.values())),
        )


async def lookup_vehicles(conn: Conn, *, vins: list[str]) -> dict[str, tuple[int, int]]:
    """VIN -> (vehicle id, VSS major version) for the registered ones among `vins`."""
    cur = await conn.execute(
        "SELECT vin, id, split_part(vss_version, '.', 1)::int AS major FROM vehicles WHERE vin = ANY(%s)",
        (vins,),
    )
    return {r["vin"]: (r["id"], r["major"]) for r in await cur.fetchall()}


async def location_allowed(conn: Conn, *, vehicle_ids: list[int]) -> set[int]:
    """The vehicles among these whose owner allows location history (no owner: not allowed)."""
    cur = await conn.execute(
        "SELECT v.id FROM vehicles v JOIN current_consents c ON c.customer_id = v.owner_customer_id"
        " WHERE v.id = ANY(%s) AND c.purpose = 'location_history' AND c.granted",
        (vehicle_ids,),
    )
    return {int(r["id"]) for r in await cur.fetchall()}


BASELINES_SQL = (
    "SELECT v.id, s.performed_at, s.odometer_km, v.delivered_on, (SELECT max(id) FROM service_events) AS newest"
    " FROM vehicles v LEFT JOIN LATERAL (SELECT performed_at, odometer_km FROM service_events e"
    "   WHERE e.vehicle_id = v.id AND e.kind = 'scheduled' ORDER BY performed_at DESC, id DESC LIMIT 1) s ON true"
    " WHERE (%(ids)s::integer[] IS NULL OR v.id = ANY(%(ids)s))"
    "   AND (%(after)s = 0"
    "     OR EXISTS (SELECT 1 FROM service_events e WHERE e.vehicle_id = v.id AND e.id > %(after)s))"
)
Baselines = tuple[dict[int, tuple[int, float]], int]


async def service_baselines(conn: Conn, *, vehicle_ids: list[int] | None = None, after_id: int = 0) -> Baselines:
    """Where each vehicle's maintenance plan counts from: (epoch ms, km) of its last scheduled
    service, or of its delivery at 0 km. With `after_id`, only vehicles with a service recorded
    since that id. Returns the baselines and the newest service id seen."""
    cur = await conn.execute(BASELINES_SQL, {"ids": vehicle_ids, "after": after_id})
    return _baselines(await cur.fetchall(), after_id)


def service_baselines_sync(conn: SyncConn) -> Baselines:
    """`service_baselines` of every vehicle, for offline runs."""
    return _baselines(conn.execute(BASELINES_SQL, {"ids": None, "after": 0}).fetchall(), 0)


def _baselines(rows: list[Row], after_id: int) -> Baselines:
    out: dict[int, tuple[int, float]] = {}
    newest = after_id
    for r in rows:
        newest = max(newest, int(r["newest"] or 0))
        if r["performed_at"] is not None:
            out[r["id"]] = (to_epoch_ms(r["performed_at"]), float(r["odometer_km"]))
        elif r["delivered_on"] is not None:
            delivered = r["delivered_on"]
            out[r["id"]] = (to_epoch_ms(datetime(delivered.year, delivered.month, delivered.day, tzinfo=UTC)), 0.0)
    return out, newest
