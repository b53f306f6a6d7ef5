"""Incidents: the alerts of one vehicle that point at one system (and wheel) and overlap in time.

The rule worker attaches every alert it opens or reopens (`attach`) and reports every clearing
(`alert_cleared`); advisors acknowledge, take and resolve the incident once, with an outcome.
One vehicle's alerts are handled by one rule worker (partitioned by vehicle), so attaching needs
no lock beyond the partial unique index that keeps one active incident per (vehicle, system,
component).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage.alerts import WorkItem, hand_to, on_vehicles, take
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, select_list
from telemetry.vocabulary import SEVERITIES_WORST_FIRST, WORKING_STATES, IncidentOutcome, System


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident(WorkItem):
    """An incident as stored, with its vehicle's VIN and dealer. Its severity is the worst of its
    alerts; its title names the system and the likely cause, and its explanation gives the cause,
    then every alert as evidence."""

    system: str  # a System; a stored value outside it still shows
    component: str  # the wheel for per-wheel systems ('front left'); empty otherwise
    cause_alert_id: int | None
    reopened: int  # times a new alert of the same system reopened it
    outcome: IncidentOutcome | None
    operation: str | None  # what the workshop did (outcome 'repaired')
    service_event_id: int | None  # the service visit that followed
    vehicle_id: int
    dealer_id: int | None  # the vehicle's: who may see the incident


INCIDENT_COLUMNS = select_list(Incident, "i", vin="v.vin", dealer_id="v.dealer_id")
_FROM = "FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence(WorkItem):
    """One of an incident's alerts: what an alert shows of its life, and what raised it."""

    rule_id: str
    rule_kind: str | None  # None on alerts stored before rules had kinds
    peak_value: float | None


SYSTEM_LABELS = {
    System.COOLING: "Cooling system",
    System.OIL: "Engine oil",
    System.ENGINE: "Engine",
    System.EMISSIONS: "Emission controls",
    System.TRANSMISSION: "Transmission",
    System.CHARGING: "12 V battery and charging",
    System.TRACTION_BATTERY: "Traction battery and drive",
    System.TYRES: "Tyre",
    System.BRAKES: "Brakes",
    System.CHASSIS: "Chassis",
    System.BODY: "Body electronics",
    System.NETWORK: "Control-module network",
    System.DIAGNOSTICS: "Diagnostics",
    System.TELEMATICS: "Telematics unit",
    System.SERVICE: "Maintenance plan",
}
# Which alert names the likely cause: a code the car's own ECU set, then a direct measurement
# beyond a limit, then inferences (combinations, trends, deviations from the vehicle's normal).
CAUSE_RANK = {"dtc": 0, "threshold": 1, "rate": 1, "service_plan": 1, "stale": 1, "compound": 2, "trend": 3}
OTHER_KINDS_RANK = 4
_WORKING = [str(s) for s in WORKING_STATES]


def system_label(system: str, component: str) -> str:
    try:
        label = SYSTEM_LABELS[System(system)]
    except ValueError:
        label = system
    return f"{label} ({component})" if component and system != System.DIAGNOSTICS else label


async def attach(conn: Conn, *, alert_id: int, reopen_within: timedelta) -> int:
    """Put a fired alert into its incident: the one being worked for its vehicle, system and
    component; else one that cleared less than `reopen_within` before the alert began (reopened);
    else a new one. A resolved incident keeps its outcome: what comes after it is a new incident.
    Returns the incident's id. Replays are harmless."""
    cur = await conn.execute(
        "SELECT a.vehicle_id, a.system, a.component, a.incident_id, a.first_seen, i.state AS incident_state"
        " FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id WHERE a.id = %s",
        (alert_id,),
    )
    alert = await cur.fetchone()
    if alert is None:
        raise NotFoundError(f"alert {alert_id} not found")
    if alert["incident_id"] is not None and alert["incident_state"] in _WORKING:
        await _summarize(conn, int(alert["incident_id"]))
        return int(alert["incident_id"])
    key = (alert["vehicle_id"], alert["system"] or System.DIAGNOSTICS, alert["component"])
    cur = await conn.execute(
        "SELECT id FROM incidents WHERE vehicle_id = %s AND system = %s AND component = %s AND state = ANY(%s)",
        (*key, _WORKING),
    )
    found = await cur.fetchone()
    if found is None:
        cur = await conn.execute(
            "UPDATE incidents SET state = 'open', reopened = reopened + 1, cleared_at = NULL, updated_at = now()"
            " WHERE id = (SELECT id FROM incidents WHERE vehicle_id = %s AND system = %s AND component = %s"
            "   AND state = 'cleared' AND cleared_at >= %s::timestamptz - %s ORDER BY id DESC LIMIT 1)"
            " RETURNING id",
            (*key, alert["first_seen"], reopen_within),
        )
        found = await cur.fetchone()
    if found is None:
        cur = await conn.execute(
            "INSERT INTO incidents (vehicle_id, system, component, state, severity, title, explanation,"
            " cause_alert_id, first_seen, last_seen)"
            " SELECT vehicle_id, %s, component, 'open', severity, title, explanation, id, first_seen, last_seen"
            " FROM alerts WHERE id = %s RETURNING id",
            (key[1], alert_id),
        )
        found = await cur.fetchone()
    assert found is not None
    incident_id = int(found["id"])
    await conn.execute("UPDATE alerts SET incident_id = %s WHERE id = %s", (incident_id, alert_id))
    await _summarize(conn, incident_id)
    return incident_id


async def _summarize(conn: Conn, incident_id: int) -> None:
    """Worst severity, time span, likely cause, title and explanation from the member alerts."""
    cur = await conn.execute(
        "SELECT a.id, a.rule_kind, a.severity, a.state, a.title, a.explanation, a.first_seen, a.last_seen,"
        " i.system, i.component FROM alerts a JOIN incidents i ON i.id = a.incident_id"
        " WHERE a.incident_id = %s ORDER BY a.first_seen, a.id",
        (incident_id,),
    )
    members = await cur.fetchall()
    if not members:
        return
    worst = [str(s) for s in SEVERITIES_WORST_FIRST]
    cause = min(
        members,
        key=lambda a: (CAUSE_RANK.get(a["rule_kind"], OTHER_KINDS_RANK), worst.index(a["severity"]), a["first_seen"]),
    )
    label = system_label(members[0]["system"], members[0]["component"])
    evidence = "; ".join(
        f"{a['title']} ({a['severity']}, since {a['first_seen']:%Y-%m-%d %H:%M} UTC"
        f"{'' if a['state'] in _WORKING else ', ' + a['state']})"
        for a in members
    )
    signs = "sign" if len(members) == 1 else "signs"
    cause_text = str(cause["explanation"]).rstrip(". ")
    explanation = f"Likely cause: {cause_text}. Evidence, {len(members)} {signs}: {evidence}."
    await conn.execute(
        "UPDATE incidents SET severity = %s, title = %s, explanation = %s, cause_alert_id = %s,"
        " first_seen = LEAST(first_seen, %s), last_seen = GREATEST(last_seen, %s), updated_at = now() WHERE id = %s",
        (
            min((a["severity"] for a in members), key=worst.index),
            f"{label}: {cause['title']}",
            explanation,
            cause["id"],
            min(a["first_seen"] for a in members),
            max(a["last_seen"] for a in members),
            incident_id,
        ),
    )


async def alert_closed(conn: Conn, *, alert_id: int, at: datetime) -> None:
    """An alert's condition cleared (or an advisor resolved the alert alone): an open incident
    none of whose alerts is still being worked clears with it (an acknowledged one stays with
    its advisor)."""
    cur = await conn.execute("SELECT incident_id FROM alerts WHERE id = %s", (alert_id,))
    row = await cur.fetchone()
    if row is None or row["incident_id"] is None:
        return
    incident_id = int(row["incident_id"])
    await conn.execute(
        "UPDATE incidents i SET state = 'cleared', cleared_at = %s, updated_at = now()"
        " WHERE i.id = %s AND i.state = 'open'"
        " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id AND a.state = ANY(%s))",
        (at, incident_id, _WORKING),
    )
    await _summarize(conn, incident_id)


async def get(conn: Conn, *, incident_id: int) -> Incident:
    query = f"SELECT {INCIDENT_COLUMNS} {_FROM} WHERE i.id = %s"
    return await fetch_one(conn, Incident, query, (incident_id,), missing=f"incident {incident_id} not found")


async def members(conn: Conn, *, incident_id: int) -> list[Evidence]:
    """The incident's alerts, its evidence, oldest first."""
    query = (
        f"SELECT {select_list(Evidence, 'a', vin='v.vin')} FROM alerts a JOIN vehicles v ON v.id = a.vehicle_id"
        " WHERE a.incident_id = %s ORDER BY a.first_seen, a.id"
    )
    return await fetch_all(conn, Evidence, query, (incident_id,))


async def for_vehicles(
    conn: Conn, *, vehicle_ids: list[int], states: Sequence[str] | None = None, limit: int = 100
) -> list[Incident]:
    """The vehicles' incidents in `states` (None: all), newest first."""
    select = f"SELECT {INCIDENT_COLUMNS} {_FROM}"
    return await on_vehicles(conn, Incident, select, "i", "i.last_seen DESC, i.id DESC", vehicle_ids, states, limit)


async def acknowledge(conn: Conn, *, incident_id: int, by: str, note: str | None) -> Incident:
    """Take the incident (open -> acknowledged), its open alerts with it."""
    if not await take(conn, "incidents", incident_id, by=by, note=note):
        current = await get(conn, incident_id=incident_id)
        raise ConflictError(f"incident {incident_id} is {current.state}; only an open incident can be acknowledged")
    await conn.execute(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s, updated_at = now()"
        " WHERE incident_id = %s AND state = 'open'",
        (by, incident_id),
    )
    return await get(conn, incident_id=incident_id)


async def assign(conn: Conn, *, incident_id: int, to: str | None) -> Incident:
    """Give the incident, and its alerts still being worked, to an advisor (None: back to the queue)."""
    await hand_to(conn, "incidents", incident_id, to=to)
    await conn.execute(
        "UPDATE alerts SET assigned_to = %s, assigned_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END,"
        " updated_at = now() WHERE incident_id = %s AND state = ANY(%s)",
        (to, to, incident_id, _WORKING),
    )
    return await get(conn, incident_id=incident_id)


async def resolve(
    conn: Conn,
    *,
    incident_id: int,
    by: str,
    outcome: IncidentOutcome,
    operation: str | None,
    service_event_id: int | None,
    note: str | None,
) -> Incident:
    """Close the incident once with its outcome (and the visit that followed, when known); its
    alerts still being worked are resolved with the same outcome."""
    cur = await conn.execute(
        "UPDATE incidents SET state = 'resolved', resolved_at = now(), resolved_by = %s, outcome = %s,"
        " operation = %s, service_event_id = %s, note = COALESCE(%s, note), updated_at = now()"
        " WHERE id = %s AND state <> 'resolved' RETURNING id",
        (by, str(outcome), operation, service_event_id, note, incident_id),
    )
    if await cur.fetchone() is None:
        await get(conn, incident_id=incident_id)
        raise ConflictError(f"incident {incident_id} is already resolved")
    await conn.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = %s, resolution = %s,"
        " updated_at = now() WHERE incident_id = %s AND state = ANY(%s)",
        (by, str(outcome), incident_id, _WORKING),
    )
    return await get(conn, incident_id=incident_id)
