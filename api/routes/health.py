from __future__ import annotations

from typing import Literal

import aiomqtt
import psycopg
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import ConnDep, SettingsDep
from api.schemas.operations import ComponentStatus, HealthOut
from telemetry import metrics
from telemetry.errors import TelemetryError
from telemetry.mqtt import make_client, redacted
from telemetry.storage.layout import samples_layout, samples_layout_reason

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics of every server process",
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus_metrics() -> PlainTextResponse:
    return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/health", response_model=HealthOut, summary="Database and broker status")
async def health(conn: ConnDep, settings: SettingsDep) -> HealthOut:
    layout, reason = "unknown", None
    try:
        await conn.execute("SELECT 1")
        layout, reason = await samples_layout(conn), await samples_layout_reason(conn)
        database = ComponentStatus(ok=True, detail=f"connected; samples layout {layout}")
    except psycopg.Error as exc:
        database = ComponentStatus(ok=False, detail=str(exc).strip())
    try:
        async with make_client(settings.require_mqtt_url(), f"{settings.mqtt_client_id}-health", persistent=False):
            broker = ComponentStatus(ok=True, detail=f"connected to {redacted(settings.require_mqtt_url())}")
    except (aiomqtt.MqttError, OSError, TelemetryError) as exc:
        broker = ComponentStatus(ok=False, detail=str(exc))
    status: Literal["ok", "degraded"] = "ok" if database.ok and broker.ok else "degraded"
    return HealthOut(
        status=status, database=database, broker=broker, samples_layout=layout, samples_layout_reason=reason
    )
