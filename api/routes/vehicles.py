from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import (
    CustomerUser,
    SeenVehicle,
    VehicleWriter,
    referenced_branch,
    referenced_dealer,
    referenced_owner,
    visible_vehicle,
    writable_dealer,
)
from api.deps import CatalogDep, ConnDep, SettingsDep
from api.schemas.alerts import AlertOut
from api.schemas.common import RECORD_ERRORS, AnyMoment, ErrorOut
from api.schemas.incidents import IncidentOut
from api.schemas.vehicles import (
    BucketOut,
    BucketSeries,
    RecallOut,
    ServiceIn,
    ServiceOut,
    SignalPoint,
    SignalSeries,
    VehicleChange,
    VehicleIn,
    VehicleOut,
)
from crm import recalls, records, services
from crm.recalls import Recall
from crm.records import Vehicle
from crm.services import Service
from telemetry.catalog import Signal
from telemetry.errors import InvalidRequestError, NotFoundError
from telemetry.storage import alerts, incidents
from telemetry.storage.incidents import Incident
from telemetry.storage.samples import read_buckets, read_series
from telemetry.vocabulary import AlertState

router = APIRouter(prefix="/vehicles", tags=["vehicles"])


@router.post("", response_model=VehicleOut, status_code=201, responses=RECORD_ERRORS | {409: {"model": ErrorOut}})
async def create_vehicle(body: VehicleIn, conn: ConnDep, principal: VehicleWriter) -> Vehicle:
    await writable_dealer(conn, principal, body.dealer_id)
    await referenced_dealer(conn, principal, body.preferred_dealer_id)
    await referenced_owner(conn, principal, body.owner_customer_id)
    return await records.create_vehicle(conn, **body.model_dump())


@router.get("/{vin}", response_model=VehicleOut, responses=RECORD_ERRORS)
async def get_vehicle(vehicle: SeenVehicle) -> records.Vehicle:
    return vehicle


@router.patch(
    "/{vin}",
    response_model=VehicleOut,
    responses=RECORD_ERRORS,
    summary="Change the owner, dealers, registration or warranty (fields left out stay as they are)",
)
async def change_vehicle(vin: str, body: VehicleChange, conn: ConnDep, principal: CustomerUser) -> Vehicle:
    await visible_vehicle(conn, principal, vin)
    changes = body.model_dump(exclude_unset=True)
    if "hardware" in changes and changes["hardware"] is None:
        changes["hardware"] = []  # null clears the list
    if "dealer_id" in changes:
        await writable_dealer(conn, principal, changes["dealer_id"])
    await referenced_dealer(conn, principal, changes.get("preferred_dealer_id"))
    await referenced_owner(conn, principal, changes.get("owner_customer_id"))
    return await records.update_vehicle(conn, vin=vin, changes=changes)  # the database checks the warranty order


@router.post(
    "/{vin}/services",
    response_model=ServiceOut,
    status_code=201,
    responses=RECORD_ERRORS | {409: {"model": ErrorOut, "description": "The dealer recorded this invoice already"}},
    summary="Record a service; a scheduled one restarts the maintenance plan's interval",
)
async def record_service(
    vin: str, body: ServiceIn, conn: ConnDep, principal: CustomerUser, settings: SettingsDep
) -> Service:
    vehicle = await visible_vehicle(conn, principal, vin)
    await referenced_dealer(conn, principal, body.dealer_id)  # a visit elsewhere (no dealer) may be recorded too
    if body.branch_id is not None:
        await referenced_branch(conn, principal, body.branch_id, body.dealer_id)
    values = body.model_dump(exclude={"recall_code"})
    if body.recall_code is not None:
        values["recall_id"] = (await recalls.get_by_code(conn, code=body.recall_code)).id
    return await services.record(conn, vehicle_id=vehicle.id, visit_days=settings.incident_visit_days, **values)


@router.get(
    "/{vin}/recalls",
    response_model=list[RecallOut],
    responses=RECORD_ERRORS,
    summary="Recalls concerning the vehicle that no service visit has carried out yet",
)
async def open_recalls(vehicle: SeenVehicle, conn: ConnDep) -> list[Recall]:
    return (await recalls.open_for(conn, vehicle_ids=[vehicle.id]))[vehicle.id]


@router.get(
    "/{vin}/services",
    response_model=list[ServiceOut],
    responses=RECORD_ERRORS,
    summary="The vehicle's service history, newest first",
)
async def service_history(vehicle: SeenVehicle, conn: ConnDep) -> list[Service]:
    return await services.history(conn, vehicle_id=vehicle.id)


@router.get(
    "/{vin}/alerts",
    response_model=list[AlertOut],
    responses=RECORD_ERRORS,
    summary="Alerts on the vehicle, newest first",
)
async def vehicle_alerts(
    vehicle: SeenVehicle,
    conn: ConnDep,
    state: Annotated[list[AlertState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[alerts.Alert]:
    return await alerts.for_vehicles(conn, vehicle_ids=[vehicle.id], states=state, limit=limit)


@router.get(
    "/{vin}/incidents",
    response_model=list[IncidentOut],
    responses=RECORD_ERRORS,
    summary="Incidents of the vehicle (one per problem, its alerts as evidence), newest first",
)
async def vehicle_incidents(
    vehicle: SeenVehicle,
    conn: ConnDep,
    state: Annotated[list[AlertState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Incident]:
    return await incidents.for_vehicles(conn, vehicle_ids=[vehicle.id], states=state, limit=limit)


From = Annotated[AnyMoment | None, Query(alias="from", description="Default: 24 h before `to`; 1950 .. 2100")]
To = Annotated[AnyMoment | None, Query(alias="to", description="Default: now; 1950 .. 2100")]


@dataclass(frozen=True)
class SignalWindow:
    """What both signal routes read: a signal the catalog knows, on a vehicle the caller may see,
    over a window that ends after it starts."""

    vin: str
    path: str
    signal: Signal
    vehicle_id: int
    start: datetime
    end: datetime


async def signal_window(
    vehicle: SeenVehicle, path: str, catalog: CatalogDep, start: From = None, end: To = None
) -> SignalWindow:
    signal = catalog.named(path)  # an older VSS name of the same signal reads it too
    if signal is None:
        raise NotFoundError(f"unknown signal {path!r}")
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(days=1)
    if start >= end:
        raise InvalidRequestError("'from' must be before 'to'")
    return SignalWindow(vehicle.vin, path, signal, vehicle.id, start, end)


Window = Annotated[SignalWindow, Depends(signal_window)]


@router.get(
    "/{vin}/signals/{path}",
    response_model=SignalSeries,
    response_model_by_alias=True,
    responses=RECORD_ERRORS,
    summary="Stored samples of one signal, in time order",
)
async def signal_series(
    w: Window, conn: ConnDep, limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000
) -> SignalSeries:
    rows = await read_series(conn, vehicle_id=w.vehicle_id, signal=w.signal, start=w.start, end=w.end, limit=limit)
    boolean = w.signal.kind == "boolean"
    points = [SignalPoint(ts=ts, value=bool(v) if boolean else v) for ts, v in rows]
    return SignalSeries(vin=w.vin, signal=w.path, unit=w.signal.unit, start=w.start, end=w.end, points=points)


@router.get(
    "/{vin}/signals/{path}/buckets",
    response_model=BucketSeries,
    response_model_by_alias=True,
    responses=RECORD_ERRORS,
    summary="One signal downsampled for charts: min, max and mean per bucket, so a year draws fast",
)
async def signal_buckets(
    w: Window,
    conn: ConnDep,
    points: Annotated[int, Query(ge=10, le=5000, description="Buckets at most")] = 600,
) -> BucketSeries:
    width, rows = await read_buckets(conn, vehicle_id=w.vehicle_id, signal=w.signal, start=w.start, end=w.end,
                                     buckets=points)  # fmt: skip
    return BucketSeries(
        vin=w.vin,
        signal=w.path,
        unit=w.signal.unit,
        start=w.start,
        end=w.end,
        bucket_s=width,
        buckets=[BucketOut.model_validate(r) for r in rows],
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
