"""CRM webhook endpoints: subscribe, list, remove; a delivery's history; redeliver the dead."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.auth import Admin
from api.deps import ConnDep, SettingsDep
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS
from api.schemas.operations import DeliveryOut, WebhookCreated, WebhookIn, WebhookOut
from crm import records
from telemetry.vocabulary import DeliveryState
from webhooks import outbox
from webhooks.signature import new_secret
from webhooks.targets import check_url

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    responses=RECORD_ERRORS,
    summary="Subscribe an endpoint to event families; the answer holds the signing secret, shown once",
)
async def create_webhook(body: WebhookIn, conn: ConnDep, settings: SettingsDep, _principal: Admin) -> WebhookCreated:
    await check_url(body.url, allow_private=settings.webhook_allow_private)
    if body.dealer_id is not None:
        await records.get_dealer(conn, dealer_id=body.dealer_id)
    secret = body.secret or new_secret()
    row = await outbox.create_endpoint(
        conn,
        url=body.url,
        secret=secret,
        event_types=list(dict.fromkeys(body.event_types)),
        dealer_id=body.dealer_id,
        description=body.description,
    )
    return WebhookCreated(**asdict(row), pending=0, dead=0, secret=secret)


@router.get("", response_model=list[WebhookOut], responses=AUTH_ERRORS, summary="Endpoints, with their backlog")
async def list_webhooks(conn: ConnDep, _principal: Admin) -> list[outbox.EndpointBacklog]:
    return await outbox.list_endpoints(conn)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    responses=RECORD_ERRORS,
    summary="Stop delivering to the endpoint; its pending deliveries are dropped, its history kept",
)
async def delete_webhook(endpoint_id: int, conn: ConnDep, _principal: Admin) -> None:
    await outbox.deactivate_endpoint(conn, endpoint_id=endpoint_id)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=RECORD_ERRORS,
    summary="Deliveries in one state, newest first; `dead` is the dead-letter list",
)
async def list_deliveries(
    endpoint_id: int,
    conn: ConnDep,
    _principal: Admin,
    state: DeliveryState = DeliveryState.DEAD,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[outbox.DeliveryRecord]:
    return await outbox.deliveries(conn, endpoint_id=endpoint_id, state=state, limit=limit)


@router.post(
    "/{endpoint_id}/deliveries/{event_id}/redeliver",
    response_model=DeliveryOut,
    responses=RECORD_ERRORS,
    summary="Put a dead delivery back in the queue, with a new retry window",
)
async def redeliver(endpoint_id: int, event_id: UUID, conn: ConnDep, _principal: Admin) -> outbox.DeliveryRecord:
    return await outbox.redeliver(conn, endpoint_id=endpoint_id, event_id=event_id)
