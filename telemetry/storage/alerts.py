"""Alerts: exactly one active alert per (vehicle, rule), enforced by a partial unique index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from psycopg import sql
from psycopg.types.json import Jsonb

from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, select_list
from telemetry.vocabulary import AlertResolution, AlertState, Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem:
    """What alerts and incidents share: a problem on a vehicle that an advisor acknowledges, takes
    and resolves (the same lifecycle, the same words)."""

    id: int
    vin: str
    severity: Severity
    state: AlertState
    title: str
    explanation: str
    first_seen: datetime
    last_seen: datetime
    cleared_at: datetime | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None
    assigned_to: str | None = None
    assigned_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(WorkItem):
    """An alert as stored, with its vehicle's VIN."""

    rule_id: str
    rule_version: int
    occurrences: int
    peak_value: float | None
    evidence: dict[str, object]
    resolution: AlertResolution | None = None
    incident_id: int | None = None  # the incident the alert is evidence of


ALERT_COLUMNS = select_list(Alert, "a", vin="v.vin")
_FROM = "FROM alerts a JOIN vehicles v ON v.id = a.vehicle_id"

WorkTable = Literal["alerts", "incidents"]


async def take(conn: Conn, table: WorkTable, item_id: int, *, by: str, note: str | None) -> bool:
    """open -> acknowledged: someone is working on the alert or incident. False when it is not
    open (or not there), for the caller to say which."""
    query = sql.SQL(
        "UPDATE {} SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s,"
        " note = COALESCE(%s, note), updated_at = now() WHERE id = %s AND state = 'open' RETURNING id"
    ).format(sql.Identifier(table))
    cur = await conn.execute(query, (by, note, item_id))
    return await cur.fetchone() is not None


async def hand_to(conn: Conn, table: WorkTable, item_id: int, *, to: str | None) -> None:
    """Give the alert or incident to an advisor (None: back to the queue)."""
    query = sql.SQL(
        "UPDATE {} SET assigned_to = %s, assigned_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END,"
        " updated_at = now() WHERE id = %s RETURNING id"
    ).format(sql.Identifier(table))
    cur = await conn.execute(query, (to, to, item_id))
    if await cur.fetchone() is None:
        raise NotFoundError(f"{table[:-1]} {item_id} not found")


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule's condition held for a vehicle: open an alert or refresh the active one."""

    vehicle_id: int
    rule_id: str
    rule_version: int
    severity: str
    title: str
    explanation: str
    first_seen: datetime
    last_seen: datetime
    peak_value: float | None
    evidence: dict[str, object]
    rule_kind: str  # service_plan alerts are reported to CRMs as service_due events
    system: str = "diagnostics"  # with `component`, which incident the alert belongs to
    component: str = ""


@dataclass(frozen=True, slots=True)
class Clearing:
    vehicle_id: int
    rule_id: str
    at: datetime


async def fire(conn: Conn, firing: Firing, *, reopen_within: timedelta) -> int:
    """Open the alert, or update the active one's last-seen time, count and peak; returns its id.

    A cleared alert of the same vehicle and rule that cleared less than `reopen_within` before
    this firing (in the data's time) is reopened instead of a new one being created.

    Idempotent under replay: a firing no later than what an alert of this vehicle and rule has
    already seen (it fired or cleared at that time or after) changes nothing. Rule workers
    replay the batches since their last checkpoint after a crash, so this matters.
    """
    cur = await conn.execute(
        "SELECT id FROM alerts WHERE vehicle_id = %s AND rule_id = %s"
        " AND (last_seen >= %s OR cleared_at >= %s) ORDER BY id DESC LIMIT 1",
        (firing.vehicle_id, firing.rule_id, firing.last_seen, firing.last_seen),
    )
    seen = await cur.fetchone()
    if seen is not None:
        return int(seen["id"])
    cur = await conn.execute(
        "UPDATE alerts SET state = 'open', cleared_at = NULL, occurrences = occurrences + 1,"
        " last_seen = GREATEST(last_seen, %(last)s), peak_value = GREATEST(peak_value, %(peak)s),"
        " severity = %(severity)s, explanation = %(explanation)s, evidence = %(evidence)s, updated_at = now(),"
        " system = %(system)s, component = %(component)s"
        " WHERE id = (SELECT id FROM alerts WHERE vehicle_id = %(vehicle)s AND rule_id = %(rule)s"
        "   AND state = 'cleared' AND cleared_at >= %(first)s - %(within)s ORDER BY cleared_at DESC LIMIT 1)"
        " AND NOT EXISTS (SELECT 1 FROM alerts WHERE vehicle_id = %(vehicle)s AND rule_id = %(rule)s"
        "   AND state IN ('open', 'acknowledged'))"
        " RETURNING id",
        {
            "last": firing.last_seen,
            "peak": firing.peak_value,
            "severity": firing.severity,
            "explanation": firing.explanation,
            "evidence": Jsonb(firing.evidence),
            "vehicle": firing.vehicle_id,
            "rule": firing.rule_id,
            "first": firing.first_seen,
            "within": reopen_within,
            "system": firing.system,
            "component": firing.component,
        },
    )
    reopened = await cur.fetchone()
    if reopened is not None:
        return int(reopened["id"])
    cur = await conn.execute(
        "INSERT INTO alerts AS a (vehicle_id, rule_id, rule_version, severity, state, title, explanation,"
        " first_seen, last_seen, peak_value, evidence, rule_kind, system, component)"
        " VALUES (%s, %s, %s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (vehicle_id, rule_id) WHERE state IN ('open', 'acknowledged') DO UPDATE SET"
        " last_seen = GREATEST(a.last_seen, EXCLUDED.last_seen), occurrences = a.occurrences + 1,"
        " peak_value = GREATEST(a.peak_value, EXCLUDED.peak_value), severity = EXCLUDED.severity,"
        " explanation = EXCLUDED.explanation, evidence = EXCLUDED.evidence, updated_at = now()"
        " RETURNING id",
        (
            firing.vehicle_id,
            firing.rule_id,
            firing.rule_version,
            firing.severity,
            firing.title,
            firing.explanation,
            firing.first_seen,
            firing.last_seen,
            firing.peak_value,
            Jsonb(firing.evidence),
            firing.rule_kind,
            firing.system,
            firing.component,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def working_rule_ids(conn: Conn, *, prefix: str) -> set[str]:
    """Rules (by id prefix) that have alerts still being worked, on any vehicle."""
    cur = await conn.execute(
        "SELECT DISTINCT rule_id FROM alerts WHERE state IN ('open', 'acknowledged') AND starts_with(rule_id, %s)",
        (prefix,),
    )
    return {str(r["rule_id"]) for r in await cur.fetchall()}


async def clear(conn: Conn, clearing: Clearing) -> int | None:
    """The condition cleared: an open alert becomes `cleared`; an acknowledged one stays with its
    advisor. A replayed clearing older than the alert's last firing changes nothing."""
    cur = await conn.execute(
        "UPDATE alerts SET state = 'cleared', cleared_at = %s, updated_at = now()"
        " WHERE vehicle_id = %s AND rule_id = %s AND state = 'open' AND last_seen <= %s RETURNING id",
        (clearing.at, clearing.vehicle_id, clearing.rule_id, clearing.at),
    )
    row = await cur.fetchone()
    return None if row is None else int(row["id"])


async def for_vehicles(
    conn: Conn, *, vehicle_ids: list[int], states: Sequence[str] | None = None, limit: int = 200
) -> list[Alert]:
    """Alerts on these vehicles, newest first."""
    select = f"SELECT {ALERT_COLUMNS} {_FROM}"
    return await on_vehicles(conn, Alert, select, "a", "a.created_at DESC, a.id DESC", vehicle_ids, states, limit)


W = TypeVar("W", bound=WorkItem)


async def on_vehicles(
    conn: Conn,
    cls: type[W],
    select: str,
    alias: str,
    order: str,
    vehicle_ids: list[int],
    states: Sequence[str] | None,
    limit: int,
) -> list[W]:
    """Alerts or incidents (`select`, over table `alias`) on these vehicles in `states` (None: any)."""
    where = f" WHERE {alias}.vehicle_id = ANY(%s) AND (%s::text[] IS NULL OR {alias}.state = ANY(%s))"
    words = None if states is None else [str(s) for s in states]  # an array parameter, from any sequence
    return await fetch_all(conn, cls, f"{select}{where} ORDER BY {order} LIMIT %s", (vehicle_ids, words, words, limit))


async def get(conn: Conn, *, alert_id: int) -> Alert:
    query = f"SELECT {ALERT_COLUMNS} {_FROM} WHERE a.id = %s"
    return await fetch_one(conn, Alert, query, (alert_id,), missing=f"alert {alert_id} not found")


async def acknowledge(conn: Conn, *, alert_id: int, by: str, note: str | None) -> Alert:
    """open -> acknowledged: someone is working on it."""
    if not await take(conn, "alerts", alert_id, by=by, note=note):
        current = await get(conn, alert_id=alert_id)
        raise ConflictError(f"alert {alert_id} is {current.state}; only an open alert can be acknowledged")
    return await get(conn, alert_id=alert_id)


async def resolve(conn: Conn, *, alert_id: int, by: str, resolution: str, note: str | None) -> Alert:
    """open, acknowledged or cleared -> resolved, with what came of it."""
    cur = await conn.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = %s, resolution = %s,"
        " note = COALESCE(%s, note), updated_at = now() WHERE id = %s AND state <> 'resolved' RETURNING id",
        (by, resolution, note, alert_id),
    )
    if await cur.fetchone() is None:
        await get(conn, alert_id=alert_id)  # 404 when it does not exist
        raise ConflictError(f"alert {alert_id} is resolved already")
    return await get(conn, alert_id=alert_id)
