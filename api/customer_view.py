"""The service advisor's view of one customer: their household, their vehicles with the latest
telemetry, open alerts, open recalls and next service, the service history, consents, and one
timeline of it all."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from crm import consents, contacts, customer_merges, entitlements, households, recalls, records, services
from rules.model import Rule
from telemetry.catalog import Catalog
from telemetry.storage import alerts, fleet, incidents, offers
from telemetry.storage.db import Conn
from telemetry.storage.samples import last_sample_at, latest_value
from telemetry.timeutil import to_datetime
from telemetry.vocabulary import DAYS_PER_MONTH, SEVERITIES_WORST_FIRST, WORKING_STATES

# summary field -> (VSS path, factor to the field's unit)
SUMMARY = {
    "odometer_km": ("Vehicle.TraveledDistance", 0.001),
    "fuel_percent": ("Vehicle.Powertrain.FuelSystem.RelativeLevel", 1.0),
    "charge_percent": ("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current", 1.0),
    "state_of_health_percent": ("Vehicle.Powertrain.TractionBattery.StateOfHealth", 1.0),
}
LOOK_BACK = timedelta(days=30)  # latest values are looked for this far back
SEVERITY_ORDER = SEVERITIES_WORST_FIRST
TIMELINE_LIMIT = 200
LIVE_OPTIONS = ("pending", "active")


def service_plans(rules: list[Rule]) -> dict[str, tuple[float, float]]:
    """Model (or 'default') -> (km, months), from the rule library's maintenance plan."""
    for rule in rules:
        for c in rule.conditions:
            if c.kind == "service_plan" and c.plans:
                return dict(c.plans)
    return {}


async def latest_summary(conn: Conn, catalog: Catalog, vid: int, now: datetime) -> dict[str, object]:
    """The vehicle's newest odometer, fuel, charge and health (last 30 days), and when it last sent
    anything at all (a car without an odometer signal is seen all the same)."""
    latest: dict[str, object] = {"last_seen": await last_sample_at(conn, vehicle_id=vid, since=now - LOOK_BACK)}
    for name, (path, factor) in SUMMARY.items():
        got = await latest_value(conn, vehicle_id=vid, signal=catalog[path], since=now - LOOK_BACK)
        latest[name] = round(got[1] * factor, 1) if got is not None and isinstance(got[1], float) else None
    return latest


def next_service(
    plans: dict[str, tuple[float, float]], start_points: dict[int, tuple[int, float]], vehicle: records.Vehicle
) -> dict[str, object] | None:
    """When and at what odometer the plan wants the next service, from the last one (or delivery)."""
    plan = plans.get(vehicle.model) or plans.get("default")
    vid = vehicle.id
    if plan is None or vid not in start_points:
        return None
    since_ms, since_km = start_points[vid]
    try:
        due_on = (to_datetime(since_ms) + timedelta(days=plan[1] * DAYS_PER_MONTH)).date()
    except (OverflowError, ValueError):  # a start no plan can count from: show no due date rather than fail
        return None
    return {
        "due_on": due_on,
        "due_at_km": round(since_km + plan[0], 1),
        "plan": f"every {plan[0]:,.0f} km or {plan[1]:g} months",
    }


async def customer_view(
    conn: Conn, catalog: Catalog, rules: list[Rule], customer: records.Customer
) -> dict[str, object]:
    customer_id = customer.id
    owned = await records.vehicles_of_customer(conn, customer_id=customer_id)
    ids = [v.id for v in owned]
    found = await alerts.for_vehicles(conn, vehicle_ids=ids) if ids else []
    working = await incidents.for_vehicles(conn, vehicle_ids=ids, states=list(WORKING_STATES)) if ids else []
    plans = service_plans(rules)
    start_points = (await fleet.service_baselines(conn, vehicle_ids=ids))[0] if ids else {}
    recalls_open = await recalls.open_for(conn, vehicle_ids=ids)
    open_offers = await offers.of_vehicles(conn, vehicle_ids=ids, states=["open"])
    now = datetime.now(UTC)
    vehicles, history = [], []
    for v in owned:
        vid = v.id
        latest = await latest_summary(conn, catalog, vid, now)
        open_alerts = [a for a in found if a.vin == v.vin and a.state in WORKING_STATES]
        latest["open_alerts"] = len(open_alerts)
        latest["open_incidents"] = sum(1 for i in working if i.vin == v.vin)
        latest["worst_open_severity"] = next(
            (s for s in SEVERITY_ORDER if any(a.severity == s for a in open_alerts)), None
        )
        due = next_service(plans, start_points, v)
        options = [e for e in await entitlements.of_vehicle(conn, vehicle_id=vid) if e.state in LIVE_OPTIONS]
        vehicles.append(
            {
                **asdict(v),
                "latest": latest,
                "next_service": due,
                "open_recalls": recalls_open[vid],
                "options": options,
                "offers": [o for o in open_offers if o.vin == v.vin],
            }
        )
        history += [{**asdict(s), "vin": v.vin} for s in await services.history(conn, vehicle_id=vid)]
    consent_rows = await consents.history(conn, customer_id=customer_id)
    contact_rows = await contacts.of_customer(conn, customer_id=customer_id, limit=TIMELINE_LIMIT)
    option_events = await entitlements.events_of_customer(conn, customer_id=customer_id, limit=TIMELINE_LIMIT)
    timeline = (
        [{"at": a.first_seen, "kind": "alert", "vin": a.vin, "ref_id": a.id,
          "summary": f"{a.severity}: {a.title} ({a.state})"} for a in found]
        + [{"at": s["performed_at"], "kind": "service", "vin": s["vin"], "ref_id": s["id"],
            "summary": f"{s['kind']} service at {s['odometer_km']:,.0f} km"} for s in history]
        + [{"at": c.given_at, "kind": "consent", "vin": None, "ref_id": c.id,
            "summary": f"{c.purpose} {'granted' if c.granted else 'withdrawn'} ({c.source})"}
           for c in consent_rows]
        + [{"at": k.contacted_at, "kind": "contact", "vin": k.vin, "ref_id": k.id,
            "summary": f"{k.purpose} contact by {k.channel} ({k.by}): {k.outcome}"} for k in contact_rows]
        + [{"at": x.at, "kind": "activation", "vin": x.vin, "ref_id": x.id,
            "summary": f"{x.feature_code} {x.event}: {x.detail}"} for x in option_events]
    )  # fmt: skip
    timeline.sort(key=lambda e: e["at"], reverse=True)
    return {
        **asdict(customer),
        "sources": await customer_merges.sources(conn, golden_id=customer_id),
        "household": await households.current_of(conn, customer_id=customer_id),
        "vehicles": vehicles,
        "alerts": found,
        "services": sorted(history, key=lambda s: s["performed_at"], reverse=True),
        "consents": await consents.current(conn, customer_id=customer_id),
        "contacts": contact_rows,
        "timeline": timeline[:TIMELINE_LIMIT],
    }
