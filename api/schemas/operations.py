"""Health, dead letters and CRM webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    vin: str | None
    reason: str
    detail: str
    signal: str | None
    sample_ts: datetime | None
    payload: str | None = Field(description="The raw payload as text, when it is UTF-8")
    payload_base64: str
    payload_size: int


class ComponentStatus(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentStatus
    broker: ComponentStatus
    samples_layout: str
    samples_layout_reason: str | None = Field(default=None, description="Why the server chose that layout")


EventFamily = Literal["alert", "service_due", "activation", "incident"]


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


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[EventFamily]
    dealer_id: int | None
    description: str | None
    active: bool
    created_at: datetime
    pending: int = Field(default=0, description="Deliveries waiting or being retried")
    dead: int = Field(default=0, description="Deliveries given up on (see /deliveries?state=dead)")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify `Telemetry-Signature` with it")


class DeliveryOut(BaseModel):
    endpoint_id: int
    event_id: UUID
    event_type: str
    created_at: datetime
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    payload: dict[str, object]
