"""Incidents: one problem of one vehicle, worked once (acknowledge, take, resolve with an
outcome); and what the outcomes say about each rule."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.auth import Anyone, DealerReader, SeenIncident, visible_incident
from api.deps import ConnDep, SettingsDep
from api.schemas.alerts import AcknowledgeIn, AssignIn
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS, ErrorOut
from api.schemas.incidents import (
    IncidentDetailOut,
    IncidentOut,
    IncidentResolveIn,
    RulePerformanceOut,
)
from crm import incident_outcomes
from telemetry.storage import incidents
from telemetry.storage.incidents import Incident

router = APIRouter(tags=["incidents"])
_ERRORS: dict[int | str, dict[str, object]] = RECORD_ERRORS | {409: {"model": ErrorOut}}


@router.get("/incidents/{incident_id}", response_model=IncidentDetailOut, responses=RECORD_ERRORS)
async def get_incident(incident_id: int, conn: ConnDep, principal: Anyone) -> dict[str, object]:
    incident = await visible_incident(conn, principal, incident_id)
    return {**asdict(incident), "alerts": await incidents.members(conn, incident_id=incident_id)}


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    responses=_ERRORS,
    summary="Take an open incident (open -> acknowledged), its open alerts with it",
)
async def acknowledge_incident(incident: SeenIncident, body: AcknowledgeIn, conn: ConnDep) -> Incident:
    return await incidents.acknowledge(conn, incident_id=incident.id, by=body.by, note=body.note)


@router.post(
    "/incidents/{incident_id}/assign", response_model=IncidentOut, responses=_ERRORS, summary="Give it to an advisor"
)
async def assign_incident(incident: SeenIncident, body: AssignIn, conn: ConnDep) -> Incident:
    return await incidents.assign(conn, incident_id=incident.id, to=body.to)


@router.post(
    "/incidents/{incident_id}/resolve",
    response_model=IncidentOut,
    responses=_ERRORS,
    summary="Close the incident with its outcome and the visit that followed (-> resolved)",
)
async def resolve_incident(
    incident: SeenIncident, body: IncidentResolveIn, conn: ConnDep, settings: SettingsDep
) -> Incident:
    visit = body.service_event_id
    if visit is not None:
        await incident_outcomes.check_visit(conn, vehicle_id=incident.vehicle_id, service_event_id=visit)
    else:
        visit = await incident_outcomes.following_visit(
            conn, incident=incident, within_days=settings.incident_visit_days
        )
    return await incidents.resolve(
        conn,
        incident_id=incident.id,
        by=body.by,
        outcome=body.outcome,
        operation=body.operation,
        service_event_id=visit,
        note=body.note,
    )


@router.get(
    "/rules/performance",
    response_model=list[RulePerformanceOut],
    responses=AUTH_ERRORS,
    summary="Per rule and model: incidents, confirmed and refuted by their outcomes, field precision, lead time",
)
async def rule_performance(conn: ConnDep, principal: DealerReader, settings: SettingsDep) -> list[dict[str, object]]:
    return await incident_outcomes.performance(
        conn,
        dealer_id=principal.dealer_id if principal.role == "advisor" else None,
        precision_floor=settings.rule_precision_floor,
        min_outcomes=settings.rule_precision_min_outcomes,
    )
