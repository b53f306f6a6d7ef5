from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from api.auth import Admin, CustomerUser, SeenCustomer, as_seen_by, writable_dealer
from api.customer_view import customer_view
from api.deps import CatalogDep, ConnDep, SettingsDep
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS, ErrorOut
from api.schemas.customers import (
    ConsentIn,
    ConsentOut,
    ConsentsOut,
    CustomerExport,
    CustomerIn,
    CustomerOut,
    CustomerRecord,
    DuplicateOut,
)
from crm import consents, records
from crm.consents import Consent
from crm.contact_data import normalize_email, normalize_phone
from crm.customer_matches import probable_duplicates
from crm.records import Customer
from telemetry.errors import ConflictError
from telemetry.storage import samples

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post(
    "",
    response_model=CustomerOut,
    status_code=201,
    responses=AUTH_ERRORS
    | {
        404: {"model": ErrorOut},
        409: {"model": DuplicateOut, "description": "Probably an existing customer; see `candidates`"},
    },
    summary="Create a customer (e-mail and phone normalised); refused with the candidates when it is "
    "probably someone already on record, unless allow_duplicate",
)
async def create_customer(
    body: CustomerIn,
    conn: ConnDep,
    settings: SettingsDep,
    principal: CustomerUser,
    allow_duplicate: Annotated[bool, Query(description="Create it even so (a different person)")] = False,
) -> Customer:
    await writable_dealer(conn, principal, body.dealer_id)
    values = body.model_dump()
    values["email"] = normalize_email(body.email)
    values["phone"] = normalize_phone(body.phone, settings.phone_region)
    if not allow_duplicate:
        found = await probable_duplicates(
            conn, name=body.name, email=values["email"], phone=values["phone"], postcode=body.postcode
        )
        if found:
            raise ConflictError(
                f"probably an existing customer ({len(found)} candidate(s)); repeat with allow_duplicate=true"
                " to create a new record anyway",
                details={"candidates": [as_seen_by(principal, c) for c in found]},
            )
    return await records.create_customer(conn, **values)


@router.get(
    "/{customer_id}",
    response_model=CustomerRecord,
    responses=RECORD_ERRORS | {308: {"description": "A source record: redirects to its golden record"}},
    summary="The customer's record: the source records merged into it; household; vehicles with the "
    "latest telemetry, open alerts, recalls and next service; alerts; service history; consents; and "
    "a timeline of it all",
)
async def get_customer(customer: SeenCustomer, request: Request, conn: ConnDep, catalog: CatalogDep) -> object:
    if customer.merged_into is not None:
        return RedirectResponse(f"/customers/{customer.merged_into}", status_code=308)
    return await customer_view(conn, catalog, request.app.state.rules, customer)


@router.post(
    "/{customer_id}/consents",
    response_model=ConsentOut,
    status_code=201,
    responses=RECORD_ERRORS,
    summary="Record a grant or withdrawal of consent for one purpose; it is in force at once",
)
async def record_consent(customer: SeenCustomer, body: ConsentIn, conn: ConnDep) -> Consent:
    given_at = body.given_at or datetime.now(UTC)
    return await consents.record(
        conn, customer_id=customer.id, purpose=body.purpose, granted=body.granted, given_at=given_at, source=body.source
    )


@router.get(
    "/{customer_id}/consents",
    response_model=ConsentsOut,
    responses=RECORD_ERRORS,
    summary="Consent in force per purpose, and every grant and withdrawal, newest first",
)
async def get_consents(customer: SeenCustomer, conn: ConnDep) -> dict[str, object]:
    return {
        "current": await consents.current(conn, customer_id=customer.id),
        "history": await consents.history(conn, customer_id=customer.id),
    }


@router.get(
    "/{customer_id}/export",
    response_model=CustomerExport,
    responses=RECORD_ERRORS,
    summary="Everything held about the customer, as JSON (data portability): the record, consent "
    "history, and per vehicle which signals are stored, how many values, and where to fetch them",
)
async def export_customer(
    customer: SeenCustomer, request: Request, conn: ConnDep, catalog: CatalogDep
) -> dict[str, object]:
    record = await customer_view(conn, catalog, request.app.state.rules, customer)
    columns = {s.column: s.path for s in catalog.signals}
    telemetry: dict[str, object] = {}
    for vehicle in record["vehicles"]:  # type: ignore[attr-defined]
        held = await samples.signals_held(conn, vehicle_id=int(vehicle["id"]), columns=list(columns))
        telemetry[str(vehicle["vin"])] = {
            columns[c]: {**h, "fetch": f"/vehicles/{vehicle['vin']}/signals/{columns[c]}"} for c, h in held.items()
        }
    return {
        "exported_at": datetime.now(UTC),
        "record": record,
        "consent_history": await consents.history(conn, customer_id=customer.id),
        "telemetry": telemetry,
    }


@router.delete(
    "/{customer_id}",
    responses=RECORD_ERRORS,
    summary="Erase the customer's personal data: name pseudonymised, contact data and consents removed, "
    "vehicles unlinked; service history and alerts stay with the vehicles",
)
async def erase_customer(customer_id: int, conn: ConnDep, _principal: Admin) -> dict[str, object]:
    unlinked = await records.erase_customer(conn, customer_id=customer_id)
    return {"erased": customer_id, "vehicles_unlinked": unlinked}
