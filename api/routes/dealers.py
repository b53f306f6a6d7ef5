from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.auth import Admin, CustomerUser, DealerReader, SeenDealer, sees_dealer, visible_dealer
from api.deps import ConnDep, SettingsDep
from api.schemas.alerts import QueuedAlertOut
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS, ErrorOut
from api.schemas.dealers import BranchIn, BranchOut, DealerIn, DealerOut
from api.schemas.incidents import QueuedIncidentOut
from api.schemas.vehicles import ServiceImportOut
from crm import alert_queue, records, service_import, services
from crm.alert_queue import QueuedAlert, QueuedIncident
from crm.records import Branch, Dealer
from telemetry.errors import InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from telemetry.vocabulary import WORKING_STATES, AlertState

router = APIRouter(prefix="/dealers", tags=["dealers"])


@router.post("", response_model=DealerOut, status_code=201, responses=AUTH_ERRORS | {409: {"model": ErrorOut}})
async def create_dealer(body: DealerIn, conn: ConnDep, _principal: Admin) -> Dealer:
    return await records.create_dealer(conn, code=body.code, name=body.name)


@router.get("", response_model=list[DealerOut], responses=AUTH_ERRORS, summary="Dealers (an advisor's own only)")
async def list_dealers(conn: ConnDep, principal: DealerReader) -> list[Dealer]:
    return [d for d in await records.list_dealers(conn) if sees_dealer(principal, d.id)]


@router.get("/{dealer_id}", response_model=DealerOut, responses=RECORD_ERRORS)
async def get_dealer(dealer_id: int, conn: ConnDep, principal: DealerReader) -> Dealer:
    return await visible_dealer(conn, principal, dealer_id)


@router.post(
    "/{dealer_id}/branches",
    response_model=BranchOut,
    status_code=201,
    responses=RECORD_ERRORS | {409: {"model": ErrorOut}},
    summary="Add a branch (site) to the dealer",
)
async def create_branch(dealer_id: int, body: BranchIn, conn: ConnDep, _principal: Admin) -> Branch:
    return await records.create_branch(conn, dealer_id=dealer_id, **body.model_dump())


@router.get("/{dealer_id}/branches", response_model=list[BranchOut], responses=RECORD_ERRORS)
async def list_branches(dealer_id: int, conn: ConnDep, principal: DealerReader) -> list[Branch]:
    await visible_dealer(conn, principal, dealer_id)
    return await records.branches(conn, dealer_id=dealer_id)


MAX_IMPORT_BYTES = 50 * 2**20


@router.post(
    "/{dealer_id}/services/import",
    response_model=ServiceImportOut,
    responses=RECORD_ERRORS | {413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
    summary="Import service history from the dealer management system's CSV export (see docs/api.md for "
    "the columns); bad lines are reported by number, the others imported; re-importing adds nothing twice",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_services(
    dealer: SeenDealer, request: Request, conn: ConnDep, principal: CustomerUser, settings: SettingsDep
) -> dict[str, object]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise UnsupportedMediaTypeError("send the file as Content-Type: text/csv")  # no form can post it
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError(f"the file has {len(raw):,} bytes; the limit is {MAX_IMPORT_BYTES:,}")
    try:
        lines = service_import.parse(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the file is not UTF-8 text (byte {exc.start})") from exc
    except service_import.ImportFormatError as exc:
        raise InvalidRequestError(str(exc)) from exc
    return await services.import_lines(
        conn,
        dealer_id=dealer.id,
        lines=lines,
        may_record=lambda v: sees_dealer(principal, v.dealer_id),
        visit_days=settings.incident_visit_days,
    )


@dataclass
class QueueQuery:
    """What both work queues take: order, states (default: still being worked), advisor, length."""

    sort: Literal["severity", "due", "age"] = "severity"
    state: Annotated[list[AlertState] | None, Query()] = None
    assigned_to: Annotated[str | None, Query(description="Only this advisor's")] = None
    limit: Annotated[int, Query(ge=1, le=1000)] = 200

    def view(self, dealer_id: int) -> alert_queue.QueueView:
        states = [str(s) for s in self.state or WORKING_STATES]
        return alert_queue.QueueView(dealer_id, states, self.sort, self.assigned_to, self.limit)


@router.get(
    "/{dealer_id}/alerts",
    response_model=list[QueuedAlertOut],
    responses=RECORD_ERRORS,
    summary="The dealer's alert queue: alerts on its vehicles, by severity, due date or age",
)
async def alert_queue_of_dealer(
    dealer: SeenDealer, conn: ConnDep, q: Annotated[QueueQuery, Depends()]
) -> list[QueuedAlert]:
    return await alert_queue.queue(conn, q.view(dealer.id))


@router.get(
    "/{dealer_id}/incidents",
    response_model=list[QueuedIncidentOut],
    responses=RECORD_ERRORS,
    summary="The dealer's work queue: one row per problem (its alerts are the evidence), by severity, due date or age",
)
async def incident_queue_of_dealer(
    dealer: SeenDealer, conn: ConnDep, q: Annotated[QueueQuery, Depends()]
) -> list[QueuedIncident]:
    return await alert_queue.incident_queue(conn, q.view(dealer.id))
