from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep
from api.models import AcknowledgeIn, AlertOut, ErrorOut, ResolveIn
from telemetry.storage import alerts

router = APIRouter(prefix="/alerts", tags=["alerts"])
_ERRORS: dict[int | str, dict[str, object]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}


@router.get("/{alert_id}", response_model=AlertOut, responses={404: {"model": ErrorOut}})
async def get_alert(alert_id: int, conn: ConnDep) -> dict[str, object]:
    return await alerts.get(conn, alert_id=alert_id)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Take an open alert (open -> acknowledged)",
)
async def acknowledge_alert(alert_id: int, body: AcknowledgeIn, conn: ConnDep) -> dict[str, object]:
    return await alerts.acknowledge(conn, alert_id=alert_id, by=body.by, note=body.note)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Close an alert with what came of it (-> resolved)",
)
async def resolve_alert(alert_id: int, body: ResolveIn, conn: ConnDep) -> dict[str, object]:
    return await alerts.resolve(conn, alert_id=alert_id, by=body.by, resolution=body.resolution, note=body.note)
