"""One record per real customer: merge proposals, merging into a golden record, un-merging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CustomerUser, SeenCustomer, as_seen_by, visible_customer
from api.deps import ConnDep
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS, ErrorOut
from api.schemas.customers import DuplicatePairOut, MergeIn, MergeOut, UnmergeIn
from crm import customer_merges
from crm.customer_matches import duplicate_pairs
from crm.customer_merges import Merge

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get(
    "/duplicates",
    response_model=list[DuplicatePairOut],
    responses=AUTH_ERRORS,
    summary="Merge proposals: pairs of records that are probably one person (an advisor: pairs with a "
    "record of their dealer), best first",
)
async def duplicates(
    conn: ConnDep,
    principal: CustomerUser,
    min_score: Annotated[float, Query(ge=0.9, le=1.0, description="0.9: name at postcode; 1.0: same e-mail")] = 0.9,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    dealer = principal.dealer_id if principal.role == "advisor" else None
    pairs = await duplicate_pairs(conn, dealer_id=dealer, min_score=min_score, limit=limit)
    return [{**p, "customers": [as_seen_by(principal, c, "id") for c in p["customers"]]} for p in pairs]  # type: ignore[attr-defined]


@router.post(
    "/{customer_id}/merges",
    response_model=MergeOut,
    status_code=201,
    responses=RECORD_ERRORS | {409: {"model": ErrorOut}},
    summary="Merge a source record into this golden record: contact data it lacks, vehicles, consents, "
    "household; the source stays behind it as it was",
)
async def merge_customer(customer: SeenCustomer, body: MergeIn, conn: ConnDep, principal: CustomerUser) -> Merge:
    await visible_customer(conn, principal, body.source_id)
    return await customer_merges.merge(
        conn, golden_id=customer.id, source_id=body.source_id, by=body.by, prefer_source=list(body.prefer_source)
    )


@router.get(
    "/{customer_id}/merges",
    response_model=list[MergeOut],
    responses=RECORD_ERRORS,
    summary="Merges this record took part in, as golden or source record, newest first",
)
async def merge_history(customer: SeenCustomer, conn: ConnDep) -> list[Merge]:
    return await customer_merges.history(conn, customer_id=customer.id)


@router.post(
    "/{customer_id}/merges/{merge_id}/unmerge",
    response_model=MergeOut,
    responses=RECORD_ERRORS | {409: {"model": ErrorOut}},
    summary="Undo a merge: the source record is its own again, with what moved (unless changed since)",
)
async def unmerge_customer(customer: SeenCustomer, merge_id: int, body: UnmergeIn, conn: ConnDep) -> Merge:
    return await customer_merges.unmerge(conn, golden_id=customer.id, merge_id=merge_id, by=body.by)
