from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import CatalogDep, ConnDep
from api.models import AlertOut, ErrorOut, ServiceIn, ServiceOut, SignalSeries, VehicleIn, VehicleOut
from telemetry.errors import InvalidRequestError, NotFoundError
from telemetry.storage import alerts, records, services
from telemetry.storage.samples import read_series

router = APIRouter(prefix="/vehicles", tags=["vehicles"])


@router.post(
    "", response_model=VehicleOut, status_code=201, responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
)
async def create_vehicle(body: VehicleIn, conn: ConnDep) -> dict[str, object]:
    return await records.create_vehicle(conn, **body.model_dump())


@router.get("/{vin}", response_model=VehicleOut, responses={404: {"model": ErrorOut}})
async def get_vehicle(vin: str, conn: ConnDep) -> dict[str, object]:
    return await records.get_vehicle(conn, vin=vin)


@router.post(
    "/{vin}/services",
    response_model=ServiceOut,
    status_code=201,
    responses={404: {"model": ErrorOut}},
    summary="Record a service; a scheduled one restarts the maintenance plan's interval",
)
async def record_service(vin: str, body: ServiceIn, conn: ConnDep) -> dict[str, object]:
    vehicle = await records.get_vehicle(conn, vin=vin)
    return await services.record(conn, vehicle_id=int(vehicle["id"]), **body.model_dump())


@router.get(
    "/{vin}/services",
    response_model=list[ServiceOut],
    responses={404: {"model": ErrorOut}},
    summary="The vehicle's service history, newest first",
)
async def service_history(vin: str, conn: ConnDep) -> list[dict[str, object]]:
    vehicle = await records.get_vehicle(conn, vin=vin)
    return await services.history(conn, vehicle_id=int(vehicle["id"]))


@router.get(
    "/{vin}/alerts",
    response_model=list[AlertOut],
    responses={404: {"model": ErrorOut}},
    summary="Alerts on the vehicle, newest first",
)
async def vehicle_alerts(
    vin: str,
    conn: ConnDep,
    state: Annotated[list[Literal["open", "acknowledged", "resolved", "cleared"]] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, object]]:
    vehicle = await records.get_vehicle(conn, vin=vin)
    return await alerts.for_vehicles(conn, vehicle_ids=[int(vehicle["id"])], states=state, limit=limit)


@router.get(
    "/{vin}/signals/{path}",
    response_model=SignalSeries,
    response_model_by_alias=True,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    summary="Stored samples of one signal, in time order",
)
async def signal_series(
    vin: str,
    path: str,
    conn: ConnDep,
    catalog: CatalogDep,
    start: Annotated[datetime | None, Query(alias="from", description="Default: 24 h before `to`")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> SignalSeries:
    signal = catalog.by_path.get(path)
    if signal is None:
        raise NotFoundError(f"unknown signal {path!r}")
    vehicle = await records.get_vehicle(conn, vin=vin)
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(days=1)
    if start >= end:
        raise InvalidRequestError("'from' must be before 'to'")
    rows = await read_series(conn, vehicle_id=int(vehicle["id"]), signal=signal, start=start, end=end, limit=limit)
    boolean = signal.kind == "boolean"
    points = [{"ts": ts, "value": bool(v) if boolean else v} for ts, v in rows]
    return SignalSeries(vin=vin, signal=path, unit=signal.unit, start=start, end=end, points=points)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
