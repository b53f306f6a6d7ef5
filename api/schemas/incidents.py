"""Incidents: one problem of one vehicle, with its alerts as evidence and its outcome."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import schema_of
from crm.alert_queue import QueuedIncident
from telemetry.storage.incidents import Evidence, Incident
from telemetry.vocabulary import IncidentOutcome


class EvidenceOut(schema_of(Evidence, descriptions={"id": "The alert's id (GET /alerts/{id})"})):  # type: ignore[misc]  # derived at run time
    pass


_INCIDENT_DESCRIPTIONS = {
    "system": "cooling, oil, engine, charging, tyres, brakes, traction_battery, ...",
    "component": "The wheel for per-wheel systems ('front left'); empty otherwise",
    "severity": "The worst of its alerts",
    "title": "The system and the likely cause",
    "explanation": "The likely cause, then every alert as evidence",
    "reopened": "Times a new alert of the same system reopened it",
    "operation": "What the workshop did (outcome 'repaired')",
    "service_event_id": "The service visit that followed",
}


class IncidentOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Incident,
        exclude=("vehicle_id", "dealer_id"),  # the API names vehicles by VIN; who sees it is the server's business
        descriptions=_INCIDENT_DESCRIPTIONS,
    )
):
    pass


class IncidentDetailOut(IncidentOut):
    alerts: list[EvidenceOut] = Field(description="The evidence, oldest first")


class QueuedIncidentOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        QueuedIncident,
        exclude=("vehicle_id", "dealer_id"),
        descriptions=_INCIDENT_DESCRIPTIONS
        | {"due_at": "The earliest due date of its alerts (see the alert queue)", "model": "The vehicle's model"},
    )
):
    pass


class IncidentResolveIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
    outcome: IncidentOutcome
    operation: str | None = Field(
        default=None, min_length=1, max_length=200, description="Required for 'repaired': what the workshop did"
    )
    service_event_id: int | None = Field(
        default=None, ge=1, description="The visit that followed; default: the vehicle's first visit after it began"
    )
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _operation_for_repairs(self) -> IncidentResolveIn:
        if self.outcome == IncidentOutcome.REPAIRED and not self.operation:
            raise ValueError("outcome 'repaired' needs the operation, e.g. 'replaced thermostat'")
        return self


class RulePerformanceOut(BaseModel):
    rule_id: str
    model: str
    incidents: int = Field(description="Incidents the rule's alerts were evidence of")
    confirmed: int = Field(description="Of those, resolved as repaired")
    refuted: int = Field(description="Of those, resolved as no fault found")
    field_precision: float | None = Field(description="confirmed / (confirmed + refuted); null without outcomes")
    median_lead_days: float | None = Field(description="Median days from the rule's first alert to the repair")
    flagged: bool = Field(description="Precision below the configured floor, with enough outcomes to say so")
