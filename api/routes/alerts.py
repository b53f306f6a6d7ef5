from __future__ import annotations

from fastapi import APIRouter

from api.auth import Anyone, SeenAlert, visible_alert
from api.deps import ConnDep
from api.schemas.alerts import AcknowledgeIn, AlertOut, AssignIn, NoteIn, NoteOut, ResolveIn
from api.schemas.common import RECORD_ERRORS, ErrorOut
from crm import alert_queue
from crm.alert_queue import Note
from telemetry.storage import alerts, incidents
from telemetry.storage.alerts import Alert

router = APIRouter(prefix="/alerts", tags=["alerts"])
_ERRORS: dict[int | str, dict[str, object]] = RECORD_ERRORS | {409: {"model": ErrorOut}}


@router.get("/{alert_id}", response_model=AlertOut, responses=RECORD_ERRORS)
async def get_alert(alert_id: int, conn: ConnDep, principal: Anyone) -> Alert:
    return await visible_alert(conn, principal, alert_id)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Take an open alert (open -> acknowledged)",
)
async def acknowledge_alert(alert: SeenAlert, body: AcknowledgeIn, conn: ConnDep) -> Alert:
    return await alerts.acknowledge(conn, alert_id=alert.id, by=body.by, note=body.note)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=_ERRORS,
    summary="Close an alert with what came of it (-> resolved)",
)
async def resolve_alert(alert: SeenAlert, body: ResolveIn, conn: ConnDep) -> Alert:
    resolved = await alerts.resolve(conn, alert_id=alert.id, by=body.by, resolution=body.resolution, note=body.note)
    assert resolved.resolved_at is not None  # resolving sets it
    await incidents.alert_closed(conn, alert_id=alert.id, at=resolved.resolved_at)
    return resolved


@router.post("/{alert_id}/assign", response_model=AlertOut, responses=_ERRORS, summary="Give the alert to an advisor")
async def assign_alert(alert: SeenAlert, body: AssignIn, conn: ConnDep) -> Alert:
    return await alert_queue.assign(conn, alert_id=alert.id, to=body.to)


@router.post(
    "/{alert_id}/notes", response_model=NoteOut, status_code=201, responses=_ERRORS, summary="Add a note to the alert"
)
async def add_note(alert: SeenAlert, body: NoteIn, conn: ConnDep) -> Note:
    return await alert_queue.add_note(conn, alert_id=alert.id, author=body.author, text=body.text)


@router.get(
    "/{alert_id}/notes", response_model=list[NoteOut], responses=_ERRORS, summary="The alert's notes, oldest first"
)
async def list_notes(alert: SeenAlert, conn: ConnDep) -> list[Note]:
    return await alert_queue.notes(conn, alert_id=alert.id)
