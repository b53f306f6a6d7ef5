"""The contact log of a customer: what contact pressure counts, and what the timeline shows."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import CustomerUser, SeenCustomer, referenced_dealer, visible_alert, visible_vehicle
from api.deps import ConnDep
from api.schemas.common import RECORD_ERRORS
from api.schemas.customers import ContactIn, ContactOut
from crm import contacts
from crm.contacts import Contact
from telemetry.errors import InvalidRequestError

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post(
    "/{customer_id}/contacts",
    response_model=ContactOut,
    status_code=201,
    responses=RECORD_ERRORS,
    summary="Log a contact with the customer (a call, an e-mail, a letter), about a vehicle or alert",
)
async def log_contact(customer: SeenCustomer, body: ContactIn, conn: ConnDep, principal: CustomerUser) -> Contact:
    await referenced_dealer(conn, principal, body.dealer_id)
    vin = body.vin
    if body.alert_id is not None:
        alert_vin = (await visible_alert(conn, principal, body.alert_id)).vin
        if vin is not None and vin != alert_vin:
            raise InvalidRequestError(f"alert {body.alert_id} is on {alert_vin}, not on {vin}")
        vin = alert_vin
    vehicle_id = None
    if vin is not None:
        vehicle = await visible_vehicle(conn, principal, vin)
        if vehicle.owner_customer_id != customer.id:
            raise InvalidRequestError(f"vehicle {vin} is not customer {customer.id}'s")
        vehicle_id = vehicle.id
    return await contacts.record(
        conn,
        customer_id=customer.id,
        vehicle_id=vehicle_id,
        dealer_id=body.dealer_id if body.dealer_id is not None else principal.dealer_id,
        alert_id=body.alert_id,
        channel=body.channel,
        purpose=body.purpose,
        outcome=body.outcome,
        note=body.note,
        contacted_at=body.contacted_at or datetime.now(UTC),
        by=body.by,
    )


@router.get("/{customer_id}/contacts", response_model=list[ContactOut], responses=RECORD_ERRORS, summary="Newest first")
async def list_contacts(customer: SeenCustomer, conn: ConnDep) -> list[Contact]:
    return await contacts.of_customer(conn, customer_id=customer.id)
