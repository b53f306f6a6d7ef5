"""Health, dead letters and CRM webhooks."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import descriptions_of, schema_of
from telemetry.storage.deadletters import StoredDeadLetter
from telemetry.vocabulary import EventFamily
from webhooks.outbox import DeliveryRecord, EndpointBacklog


class DeadLetterOut(schema_of(StoredDeadLetter, exclude={"payload"})):  # type: ignore[misc]  # derived at run time
    payload: str | None = Field(description="The raw payload as text, when it is UTF-8")
    payload_base64: str

    @classmethod
    def of(cls, letter: StoredDeadLetter) -> DeadLetterOut:
        """The letter with its payload as text (when it is UTF-8) and as base64 (always)."""
        try:
            text: str | None = letter.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        fields = {k: v for k, v in asdict(letter).items() if k != "payload"}
        return cls(**fields, payload=text, payload_base64=base64.b64encode(letter.payload).decode())


class ComponentStatus(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentStatus
    broker: ComponentStatus
    samples_layout: str
    samples_layout_reason: str | None = Field(default=None, description="Why the server chose that layout")


class WebhookIn(BaseModel):
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2000, description="Receives a POST per event")
    event_types: list[EventFamily] = Field(
        min_length=1,
        description="Families delivered: alert.*, service_due.*, activation.*, incident.* (one per problem)",
    )
    dealer_id: int | None = Field(default=None, description="Only this dealer's vehicles; null: every dealer")
    description: str | None = Field(default=None, max_length=200)
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="Signing secret; default: a new random one"
    )


class WebhookOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        EndpointBacklog,
        descriptions={
            **descriptions_of(WebhookIn),
            "pending": "Deliveries waiting or being retried",
            "dead": "Deliveries given up on (see /deliveries?state=dead)",
        },
    )
):
    pass


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify `Telemetry-Signature` with it")


class DeliveryOut(schema_of(DeliveryRecord)):  # type: ignore[misc]  # derived at run time
    pass
