"""Service history: what was done to a vehicle, when and at what mileage.

Maintenance plans count from the last service (or from delivery); rule workers pick up new
services by polling for ids above the last one they saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from psycopg.errors import ForeignKeyViolation, UniqueViolation
from psycopg.types.json import Jsonb

from crm import incident_outcomes
from crm.service_import import LineError, ServiceLine
from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_id, select_list
from telemetry.vocabulary import ServiceKind

SERVICE_FIELDS = (
    "performed_at", "odometer_km", "kind", "dealer_id", "description", "branch_id", "operations", "parts",
    "amount", "currency", "invoice_number", "recall_id",
)  # fmt: skip
VISIT_DAYS = 30  # TELEMETRY_INCIDENT_VISIT_DAYS's default
_SELECT = (  # a visit with its recall's code
    "SELECT s.id, s.vehicle_id, " + ", ".join(f"s.{n}" for n in SERVICE_FIELDS) + ", r.code AS recall_code,"
    " s.created_at FROM service_events s LEFT JOIN recalls r ON r.id = s.recall_id"
)


@dataclass(frozen=True, slots=True)
class Service:
    """A service visit as recorded (the columns of SERVICE_FIELDS)."""

    id: int
    vehicle_id: int
    performed_at: datetime
    odometer_km: float
    kind: ServiceKind
    dealer_id: int | None
    description: str | None
    branch_id: int | None
    operations: list[str]  # labour operations done
    parts: list[dict[str, object]]  # each: number, description, quantity
    amount: Decimal | None  # the invoice total
    currency: str | None
    invoice_number: str | None
    recall_id: int | None
    recall_code: str | None  # the recall the visit carried out
    created_at: datetime


async def record(conn: Conn, *, vehicle_id: int, visit_days: int = VISIT_DAYS, **values: object) -> Service:
    """Record one visit; `values` are columns of SERVICE_FIELDS. An invoice number is recorded
    once per dealer (ConflictError the second time). The visit closes the loop on the vehicle's
    incidents (`crm.incident_outcomes.visit_recorded`)."""
    values = {**values, "parts": Jsonb(values.get("parts") or [])}
    columns = {"vehicle_id": vehicle_id, **{n: values[n] for n in SERVICE_FIELDS if n in values}}
    try:
        visit_id = await insert_id(conn, "service_events", columns)
    except UniqueViolation as exc:
        raise ConflictError(
            f"invoice {values.get('invoice_number')} of dealer {values.get('dealer_id')} is recorded already"
        ) from exc
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer, branch or recall not found: {exc.diag.message_detail}") from exc
    visit = await fetch_one(conn, Service, f"{_SELECT} WHERE s.id = %s", (visit_id,), missing="no visit returned")
    await incident_outcomes.visit_recorded(conn, visit=visit, within_days=visit_days)
    return visit


async def history(conn: Conn, *, vehicle_id: int) -> list[Service]:
    """The vehicle's services, newest first."""
    query = f"{_SELECT} WHERE s.vehicle_id = %s ORDER BY s.performed_at DESC, s.id DESC"
    return await fetch_all(conn, Service, query, (vehicle_id,))


@dataclass(frozen=True, slots=True)
class Registered:
    """A vehicle an imported line names, and the dealer that decides who may record on it."""

    id: int
    vin: str
    dealer_id: int | None


async def import_lines(
    conn: Conn,
    *,
    dealer_id: int,
    lines: list[ServiceLine | LineError],
    may_record: Callable[[Registered], bool],
    visit_days: int = VISIT_DAYS,
) -> dict[str, object]:
    """Record the parsed lines of a DMS export for the dealer, each in a savepoint of its own: a
    line that fails is reported with its reason and the others are kept. An invoice recorded
    before (a re-import) counts as already recorded. `may_record(vehicle)` says whether the
    caller may record services on the vehicle (an advisor: their dealer's vehicles)."""
    good = [x for x in lines if isinstance(x, ServiceLine)]
    errors = [{"line": x.line, "error": x.error} for x in lines if isinstance(x, LineError)]
    query = f"SELECT {select_list(Registered, 'vehicles')} FROM vehicles WHERE vin = ANY(%s)"
    vehicles = {v.vin: v for v in await fetch_all(conn, Registered, query, ([x.vin for x in good],))}
    cur = await conn.execute("SELECT code, id FROM dealer_branches WHERE dealer_id = %s", (dealer_id,))
    branch_ids = {r["code"]: r["id"] for r in await cur.fetchall()}
    cur = await conn.execute("SELECT code, id FROM recalls WHERE code = ANY(%s)", ([x.recall_code for x in good],))
    recall_ids = {r["code"]: r["id"] for r in await cur.fetchall()}
    imported = already = 0
    for x in good:
        vehicle = vehicles.get(x.vin)
        problem = (
            f"vehicle {x.vin} is not registered" if vehicle is None or not may_record(vehicle)
            else f"dealer {dealer_id} has no branch {x.branch!r}" if x.branch and x.branch not in branch_ids
            else f"recall {x.recall_code!r} not found" if x.recall_code and x.recall_code not in recall_ids
            else None
        )  # fmt: skip
        if problem:
            errors.append({"line": x.line, "error": problem})
            continue
        assert vehicle is not None
        try:
            async with conn.transaction():
                await record(
                    conn,
                    vehicle_id=vehicle.id,
                    visit_days=visit_days,
                    dealer_id=dealer_id,
                    branch_id=branch_ids.get(x.branch),
                    recall_id=recall_ids.get(x.recall_code),
                    **{f: getattr(x, f) for f in _LINE_FIELDS},
                )
            imported += 1
        except ConflictError:
            already += 1
    return {
        "imported": imported,
        "already_recorded": already,
        "errors": sorted(errors, key=lambda e: cast(int, e["line"])),
    }


_LINE_FIELDS = (
    "performed_at", "odometer_km", "kind", "description", "operations", "parts", "amount", "currency", "invoice_number"
)  # fmt: skip
