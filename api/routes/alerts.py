from __future__ import annotations

import psycopg
from fastapi import APIRouter

from api.auth import Anyone, CustomerUser, sees_dealer
from api.deps import ConnDep
from api.models import AUTH_ERRORS, AcknowledgeIn, AlertOut, ErrorOut, ResolveIn
from telemetry.errors import NotFoundError
from telemetry.storage import alerts, records
from telemetry.storage.apikeys import Principal

router = APIRouter(prefix="/alerts", tags=["alerts"])
_ERRORS: dict[int | str, dict[str, object]] = AUTH_ERRORS | {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}


async def _visible(conn: psycopg.AsyncConnection, principal: Principal, alert_id: int) -> dict[str, object]:
    alert = await alerts.get(conn, alert_id=alert_id)
    vehicle = await records.get_vehicle(conn, vin=str(alert["vin"]))
    if not sees_dealer(principal, vehicle["dealer_id"]):
        raise NotFoundError(f"alert {alert_id} not found")
    return alert


@router.get("/{alert_id}", response_model=AlertOut, responses=AUTH_ERRORS | {404: {"model": ErrorOut}})
async def get_alert(alert_id: int, conn: ConnDep, principal: Anyone) -> dict[str, object]:
    return await _visible(conn, principal, alert_id)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Take an open alert (open -> acknowledged)",
)
async def acknowledge_alert(
    alert_id: int, body: AcknowledgeIn, conn: ConnDep, principal: CustomerUser
) -> dict[str, object]:
    await _visible(conn, principal, alert_id)
    return await alerts.acknowledge(conn, alert_id=alert_id, by=body.by, note=body.note)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Close an alert with what came of it (-> resolved)",
)
async def resolve_alert(alert_id: int, body: ResolveIn, conn: ConnDep, principal: CustomerUser) -> dict[str, object]:
    await _visible(conn, principal, alert_id)
    return await alerts.resolve(conn, alert_id=alert_id, by=body.by, resolution=body.resolution, note=body.note)
