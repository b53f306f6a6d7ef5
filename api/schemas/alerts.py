"""Alerts and the dealer's alert queue."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telemetry.vocabulary import AlertState, Severity

Resolution = Literal[
    "booked", "declined", "customer_unreachable", "not_our_vehicle", "no_fault_found",
    # an incident's outcomes, which its alerts take when it is resolved
    "repaired", "customer_declined", "duplicate", "other",
]  # fmt: skip


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    vin: str
    rule_id: str
    rule_version: int
    severity: Severity
    state: AlertState
    title: str
    explanation: str
    first_seen: datetime
    last_seen: datetime
    cleared_at: datetime | None
    occurrences: int
    peak_value: float | None
    evidence: dict[str, object]
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: Resolution | None = None
    note: str | None = None
    assigned_to: str | None = None
    assigned_at: datetime | None = None
    incident_id: int | None = Field(default=None, description="The incident the alert is evidence of")


class QueuedAlertOut(AlertOut):
    due_at: datetime = Field(description="The trend's projected date, or raised + 1 day / 7 days / 30 days by severity")
    customer_id: int | None
    customer_name: str | None


class AssignIn(BaseModel):
    to: str | None = Field(min_length=1, max_length=120, description="The advisor; null puts it back in the queue")


class NoteIn(BaseModel):
    author: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1, max_length=4000)


class NoteOut(NoteIn):
    id: int
    alert_id: int
    created_at: datetime


class AcknowledgeIn(BaseModel):
    by: str = Field(min_length=1, max_length=120, description="Who takes the alert (or the incident)")
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
    resolution: Resolution
    note: str | None = Field(default=None, max_length=2000)
