"""What came of incidents, and what that says about the rules that raised them.

Resolving an incident links the service visit that followed (named by the advisor, or the
vehicle's first visit within the window after the incident began). A repair visit recorded later
(by hand or from the DMS) links itself to incidents resolved without one, and closes as
`repaired` the incidents of the systems its operations name. Per rule and model, the outcomes give
the rule's field precision: repaired / (repaired + no fault found).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Protocol

from telemetry.errors import NotFoundError
from telemetry.storage import incidents
from telemetry.storage.db import Conn
from telemetry.vocabulary import IncidentOutcome, System

DMS_RESOLVER = "dms import"
REPAIR_KINDS = ("repair", "tyres")
# Words in a visit's operations or description that say which system it repaired.
REPAIR_WORDS: dict[System, tuple[str, ...]] = {
    System.COOLING: ("coolant", "thermostat", "radiator", "water pump", "cooling fan", "fan motor", "cooling"),
    System.OIL: ("oil pump", "oil pressure", "oil leak", "oil cooler", "sump"),
    System.ENGINE: ("spark plug", "ignition coil", "injector", "misfire", "throttle body", "air flow sensor"),
    System.EMISSIONS: ("catalyst", "catalytic", "lambda", "oxygen sensor", "o2 sensor", "egr", "evap", "dpf"),
    System.TRANSMISSION: ("transmission", "gearbox", "clutch"),
    System.CHARGING: ("12 v", "12v", "alternator", "voltage regulator", "starter battery", "auxiliary battery"),
    System.TRACTION_BATTERY: ("traction battery", "hv battery", "high-voltage battery", "battery module", "inverter"),
    System.TYRES: ("tyre", "tire", "puncture", "tpms", "valve stem"),
    System.BRAKES: ("brake",),
}
_SIDES = (("front", "rear"), ("left", "right"))


def repaired_systems(text: str) -> set[System]:
    lowered = text.lower()
    return {s for s, words in REPAIR_WORDS.items() if any(w in lowered for w in words)}


def covers_component(text: str, component: str) -> bool:
    """A job naming one side ('rear brake pads') does not repair the other side's wheel."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    parts = set(component.split())
    for pair in _SIDES:
        named = words & set(pair)
        if len(named) == 1 and parts & set(pair) and not parts & named:
            return False
    return True


async def check_visit(conn: Conn, *, vehicle_id: int, service_event_id: int) -> None:
    cur = await conn.execute(
        "SELECT 1 FROM service_events WHERE id = %s AND vehicle_id = %s", (service_event_id, vehicle_id)
    )
    if await cur.fetchone() is None:
        raise NotFoundError(f"service visit {service_event_id} not found")


async def following_visit(conn: Conn, *, incident: incidents.Incident, within_days: int) -> int | None:
    """The vehicle's first visit after the incident began, within `within_days`."""
    cur = await conn.execute(
        "SELECT id FROM service_events WHERE vehicle_id = %s"
        " AND performed_at >= %s AND performed_at < %s ORDER BY performed_at, id LIMIT 1",
        (incident.vehicle_id, incident.first_seen, incident.first_seen + timedelta(days=within_days)),
    )
    row = await cur.fetchone()
    return None if row is None else int(row["id"])


class Visit(Protocol):
    """What a recorded visit tells the incidents (crm.services.Service has it)."""

    @property
    def id(self) -> int: ...
    @property
    def vehicle_id(self) -> int: ...
    @property
    def performed_at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def operations(self) -> list[str]: ...


async def visit_recorded(conn: Conn, *, visit: Visit, within_days: int) -> list[int]:
    """A visit was recorded: link it to the vehicle's incidents resolved without a visit that began
    within the window before it; a repair visit also resolves, as repaired, the incidents of the
    systems it names. Returns the incidents it resolved."""
    window = (visit.performed_at - timedelta(days=within_days), visit.performed_at)
    await conn.execute(
        "UPDATE incidents SET service_event_id = %s, updated_at = now() WHERE vehicle_id = %s AND state = 'resolved'"
        " AND service_event_id IS NULL AND first_seen >= %s AND first_seen <= %s",
        (visit.id, visit.vehicle_id, *window),
    )
    if visit.kind not in REPAIR_KINDS:
        return []
    text = " ".join([*visit.operations, visit.description or ""])
    systems = repaired_systems(text) | ({System.TYRES} if visit.kind == "tyres" else set())
    if not systems:
        return []
    cur = await conn.execute(
        "SELECT id, component FROM incidents WHERE vehicle_id = %s AND system = ANY(%s)"
        " AND state IN ('open', 'acknowledged', 'cleared') AND first_seen >= %s AND first_seen <= %s",
        (visit.vehicle_id, [str(s) for s in systems], *window),
    )
    resolved = []
    operation = "; ".join(visit.operations) or visit.description or visit.kind
    for row in await cur.fetchall():
        if covers_component(text, row["component"]):
            await incidents.resolve(
                conn,
                incident_id=int(row["id"]),
                by=DMS_RESOLVER,
                outcome=IncidentOutcome.REPAIRED,
                operation=operation[:200],
                service_event_id=visit.id,
                note=None,
            )
            resolved.append(int(row["id"]))
    return resolved


async def performance(
    conn: Conn, *, dealer_id: int | None, precision_floor: float, min_outcomes: int
) -> list[dict[str, object]]:
    """Per rule and vehicle model: incidents its alerts were evidence of, confirmed (repaired),
    refuted (no fault found), field precision, median lead time from the rule's first alert to
    the repair, and a flag when the precision is below the floor with enough outcomes."""
    cur = await conn.execute(
        "WITH per AS ("
        " SELECT a.rule_id, v.model, i.id, i.outcome, min(a.first_seen) AS first_alert,"
        "  COALESCE(s.performed_at, i.resolved_at) AS repaired_at"
        " FROM alerts a JOIN incidents i ON i.id = a.incident_id JOIN vehicles v ON v.id = i.vehicle_id"
        " LEFT JOIN service_events s ON s.id = i.service_event_id"
        " WHERE %(dealer)s::bigint IS NULL OR v.dealer_id = %(dealer)s"
        " GROUP BY a.rule_id, v.model, i.id, i.outcome, s.performed_at, i.resolved_at)"
        " SELECT rule_id, model, count(*) AS incidents,"
        " count(*) FILTER (WHERE outcome = 'repaired') AS confirmed,"
        " count(*) FILTER (WHERE outcome = 'no_fault_found') AS refuted,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', repaired_at - first_alert) / 86400)"
        "  FILTER (WHERE outcome = 'repaired') AS median_lead_days"
        " FROM per GROUP BY rule_id, model ORDER BY rule_id, model",
        {"dealer": dealer_id},
    )
    out = []
    for r in await cur.fetchall():
        judged = r["confirmed"] + r["refuted"]
        precision = r["confirmed"] / judged if judged else None
        lead = r["median_lead_days"]
        out.append({
            "rule_id": r["rule_id"], "model": r["model"], "incidents": r["incidents"], "confirmed": r["confirmed"],
            "refuted": r["refuted"], "field_precision": None if precision is None else round(precision, 3),
            "median_lead_days": None if lead is None else round(max(float(lead), 0.0), 1),
            "flagged": precision is not None and judged >= min_outcomes and precision < precision_floor,
        })  # fmt: skip
    return out
