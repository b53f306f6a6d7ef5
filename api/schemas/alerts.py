"""Alerts and the dealer's alert queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import schema_of
from telemetry.storage.alerts import Alert
from telemetry.vocabulary import AlertResolution

AlertOut = schema_of(Alert, "AlertOut", descriptions={"incident_id": "The incident the alert is evidence of"})


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
    resolution: AlertResolution
    note: str | None = Field(default=None, max_length=2000)
