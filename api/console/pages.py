"""The console's pages. Each reads what it shows through the same storage functions as the API,
scoped the same way (an advisor sees their dealer only), and renders it server-side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import sees_dealer, visible_customer, visible_incident, visible_vehicle
from api.console import oem_pages
from api.console.render import page, templates
from api.console.session import ConsoleUser, sign_in, sign_out
from api.customer_view import customer_view, latest_summary, next_service, service_plans
from api.deps import CatalogDep, ConnDep, SettingsDep
from api.routes.recommendations import policy
from crm import alert_queue, entitlements, incident_outcomes, recommendations, records, services
from telemetry.errors import NotFoundError
from telemetry.storage import alerts, fleet, incidents
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn
from telemetry.vocabulary import SEVERITIES_WORST_FIRST, WORKING_STATES

router = APIRouter(prefix="/console", include_in_schema=False)
SEVERITIES = SEVERITIES_WORST_FIRST
STATES = {"working": ["open", "acknowledged"], "open": ["open"], "acknowledged": ["acknowledged"],
          "resolved": ["resolved"], "cleared": ["cleared"]}  # fmt: skip
WINDOWS = {"24h": 1, "7d": 7, "30d": 30, "1y": 365}  # chart windows, in days
CHART_SIGNALS = (
    "Vehicle.Speed",
    "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature",
    "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature",
    "Vehicle.LowVoltageBattery.CurrentVoltage",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average",
    "Vehicle.Powertrain.FuelSystem.RelativeLevel",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure",
)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, failed: bool = False) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"failed": failed})


router.add_api_route("/login", sign_in, methods=["POST"])
router.add_api_route("/logout", sign_out, methods=["POST"])
router.include_router(oem_pages.router)


async def _dealer(conn: Conn, principal: Principal, dealer: int | None) -> tuple[records.Dealer, list[records.Dealer]]:
    """The dealer whose work is shown: an advisor's own; for others the one asked for, or the first."""
    dealers = [d for d in await records.list_dealers(conn) if sees_dealer(principal, d.id)]
    if not dealers:
        raise NotFoundError("no dealer to show")
    wanted = principal.dealer_id if principal.role == "advisor" else dealer
    chosen = next((d for d in dealers if d.id == wanted), dealers[0])
    return chosen, dealers


async def _queue_rows(
    conn: Conn, dealer_id: int, severity: str, state: str, model: str, incident_id: int | None = None
) -> list[alert_queue.QueuedIncident]:
    view = alert_queue.QueueView(dealer_id, STATES[state], limit=500, only_id=incident_id)
    rows = await alert_queue.incident_queue(conn, view)
    return [r for r in rows if severity in ("all", r.severity) and model in ("all", r.model)]


Filter = Annotated[str, Query(max_length=40)]


@dataclass(frozen=True)
class QueueFilters:
    dealer: int | None
    severity: str
    state: str
    model: str


def queue_filters(
    dealer: int | None = None,
    severity: Literal["all", "critical", "warning", "info"] = "all",
    state: Literal["working", "open", "acknowledged", "resolved", "cleared"] = "working",
    model: Filter = "all",
) -> QueueFilters:
    return QueueFilters(dealer, severity, state, model)


Filters = Annotated[QueueFilters, Depends(queue_filters)]


@router.get("/", response_class=HTMLResponse)
async def queue_page(request: Request, conn: ConnDep, principal: ConsoleUser, f: Filters) -> HTMLResponse:
    chosen, dealers = await _dealer(conn, principal, f.dealer)
    cur = await conn.execute("SELECT DISTINCT model FROM vehicles WHERE dealer_id = %s ORDER BY 1", (chosen.id,))
    models = [r["model"] for r in await cur.fetchall()]
    rows = await _queue_rows(conn, chosen.id, f.severity, f.state, f.model)
    filters = {"severity": f.severity, "state": f.state, "model": f.model, "dealer": chosen.id}
    return page(request, "queue.html", principal, dealer=chosen, dealers=dealers, rows=rows, models=models,
                filters=filters, severities=SEVERITIES, states=list(STATES))  # fmt: skip


@router.get("/rows/{incident_id}", response_class=HTMLResponse)
async def queue_row(incident_id: int, request: Request, conn: ConnDep, principal: ConsoleUser, f: Filters) -> Response:
    """One queue row (an incident), for the live feed and after an action; 204 when the filters
    leave it out."""
    chosen, _ = await _dealer(conn, principal, f.dealer)
    await visible_incident(conn, principal, incident_id)  # 404: no such incident, or another dealer's
    rows = await _queue_rows(conn, chosen.id, f.severity, f.state, f.model, incident_id=incident_id)
    if not rows:
        return Response(status_code=204)
    return templates.TemplateResponse(request, "_row.html", {"r": rows[0]})


@router.get("/vehicles/{vin}", response_class=HTMLResponse)
async def vehicle_page(
    vin: str,
    request: Request,
    conn: ConnDep,
    catalog: CatalogDep,
    principal: ConsoleUser,
    window: Literal["24h", "7d", "30d", "1y"] = "7d",
    signal: Filter | None = None,
) -> HTMLResponse:
    vehicle = await visible_vehicle(conn, principal, vin)
    vid = vehicle.id
    rules = request.app.state.rules
    open_alerts = await alerts.for_vehicles(conn, vehicle_ids=[vid], states=list(WORKING_STATES))
    open_incidents = await incidents.for_vehicles(conn, vehicle_ids=[vid], states=list(WORKING_STATES))
    start_points = (await fleet.service_baselines(conn, vehicle_ids=[vid]))[0]
    alert_signals = [str(a.evidence["signal"]) for a in open_alerts if a.evidence.get("signal")]
    choices = list(dict.fromkeys([*alert_signals, *CHART_SIGNALS]))
    chosen = signal if signal in catalog.by_path else choices[0]
    thresholds = sorted({(c.limit, r.title) for r in rules for c in r.conditions  # residual limits are not levels
                         if c.signal is not None and c.signal.path == chosen and c.kind == "threshold"
                         and c.residual is None and r.offer is None})  # fmt: skip
    owner = None
    if vehicle.owner_customer_id is not None:
        owner = await records.get_customer(conn, customer_id=vehicle.owner_customer_id)
    return page(
        request, "vehicle.html", principal,
        vehicle=vehicle, owner=owner, latest=await latest_summary(conn, catalog, vid, datetime.now(UTC)),
        open_alerts=open_alerts, open_incidents=open_incidents,
        services=await services.history(conn, vehicle_id=vid),
        next_service=next_service(service_plans(rules), start_points, vehicle),
        options=await entitlements.of_vehicle(conn, vehicle_id=vid),
        signals=choices, signal=chosen, unit=catalog.by_path[chosen].unit, window=window, windows=list(WINDOWS),
        window_days=WINDOWS[window], thresholds=[{"value": v, "label": t} for v, t in thresholds],
    )  # fmt: skip


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(
    customer_id: int, request: Request, conn: ConnDep, catalog: CatalogDep, principal: ConsoleUser
) -> HTMLResponse:
    customer = await visible_customer(conn, principal, customer_id)
    if customer.merged_into is not None:
        customer = await visible_customer(conn, principal, customer.merged_into)
    record = await customer_view(conn, catalog, request.app.state.rules, customer)
    return page(request, "customer.html", principal, c=record)


@router.get("/calls", response_class=HTMLResponse)
async def calls_page(
    request: Request, conn: ConnDep, settings: SettingsDep, principal: ConsoleUser, dealer: int | None = None
) -> HTMLResponse:
    chosen, dealers = await _dealer(conn, principal, dealer)
    found = await recommendations.for_dealer(
        conn, dealer_id=chosen.id, today=datetime.now(UTC).date(), policy=policy(settings),
        warranty_offer_days=settings.warranty_offer_days,
    )  # fmt: skip
    return page(request, "calls.html", principal, dealer=chosen, dealers=dealers, calls=found)


@router.get("/rules", response_class=HTMLResponse)
async def rules_page(request: Request, conn: ConnDep, settings: SettingsDep, principal: ConsoleUser) -> HTMLResponse:
    rows = await incident_outcomes.performance(
        conn,
        dealer_id=principal.dealer_id if principal.role == "advisor" else None,
        precision_floor=settings.rule_precision_floor,
        min_outcomes=settings.rule_precision_min_outcomes,
    )
    return page(request, "rules.html", principal, rows=rows, floor=settings.rule_precision_floor,
                min_outcomes=settings.rule_precision_min_outcomes)  # fmt: skip


@router.get("/oem", response_class=HTMLResponse)
async def oem_page(request: Request, conn: ConnDep, principal: ConsoleUser, vin: Filter = "") -> HTMLResponse:
    return page(request, "oem.html", principal, features=await entitlements.list_features(conn), vin=vin)
