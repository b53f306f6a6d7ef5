"""Alerts and the dealer's alert queue."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import schema_of
from crm.alert_queue import Note, QueuedAlert
from telemetry.storage.alerts import Alert
from telemetry.vocabulary import AlertResolution


class AlertOut(schema_of(Alert, descriptions={"incident_id": "The incident the alert is evidence of"})):  # type: ignore[misc]  # derived at run time
    pass


class QueuedAlertOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        QueuedAlert,
        descriptions={
            "incident_id": "The incident the alert is evidence of",
            "due_at": "The trend's projected date, or raised + 1 day / 7 days / 30 days by severity",
            "model": "The vehicle's model",
        },
    )
):
    pass


class AssignIn(BaseModel):
    to: str | None = Field(min_length=1, max_length=120, description="The advisor; null puts it back in the queue")


class NoteIn(BaseModel):
    author: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1, max_length=4000)


class NoteOut(schema_of(Note)):  # type: ignore[misc]  # derived at run time
    pass


class AcknowledgeIn(BaseModel):
    by: str = Field(min_length=1, max_length=120, description="Who takes the alert (or the incident)")
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
    resolution: AlertResolution
    note: str | None = Field(default=None, max_length=2000)
