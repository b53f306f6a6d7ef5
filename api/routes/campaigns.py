"""Segments and campaigns for OEMs and admins: define a segment of the fleet, dry-run an option
over it, run the campaign at a rate, watch it, pause, resume or cancel it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api.activation import granted_by
from api.auth import OemOrAdmin
from api.deps import ConnDep
from api.schemas.campaigns import (
    CampaignIn,
    CampaignOut,
    CampaignTarget,
    DryRunOut,
    SegmentIn,
    SegmentOut,
    SegmentVehicleOut,
)
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS
from oem import campaigns, segments

router = APIRouter(tags=["campaigns"])
CONFLICT = RECORD_ERRORS | {409: {"description": "A name in use, or a state that does not allow it"}}


@router.post("/segments", status_code=status.HTTP_201_CREATED, response_model=SegmentOut, responses=CONFLICT)
async def create_segment(body: SegmentIn, conn: ConnDep, principal: OemOrAdmin) -> segments.SizedSegment:
    """Save a filter over the fleet under a name."""
    filter_ = body.filter.model_dump(exclude_none=True)
    row = await segments.create(conn, name=body.name, filter_=filter_, by=granted_by(principal))
    return await segments.with_size(conn, row)


@router.get("/segments", response_model=list[SegmentOut], responses=AUTH_ERRORS)
async def list_segments(conn: ConnDep, principal: OemOrAdmin) -> list[segments.SizedSegment]:
    return [await segments.with_size(conn, row) for row in await segments.all_segments(conn)]


@router.get("/segments/{segment_id}", response_model=SegmentOut, responses=RECORD_ERRORS)
async def get_segment(segment_id: int, conn: ConnDep, principal: OemOrAdmin) -> segments.SizedSegment:
    return await segments.with_size(conn, await segments.get(conn, segment_id=segment_id))


@router.get("/segments/{segment_id}/vehicles", response_model=list[SegmentVehicleOut], responses=RECORD_ERRORS)
async def segment_vehicles(
    segment_id: int,
    conn: ConnDep,
    principal: OemOrAdmin,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> list[segments.SegmentVehicle]:
    """The segment's vehicles now (vehicles only: no owner, no contact)."""
    segment = await segments.get(conn, segment_id=segment_id)
    return (await segments.resolve(conn, segment.filter)).eligible[:limit]


@router.post("/campaigns/dry-run", response_model=DryRunOut, responses=RECORD_ERRORS)
async def dry_run(body: CampaignTarget, conn: ConnDep, principal: OemOrAdmin) -> dict[str, object]:
    """How many of the segment's vehicles the option would reach now, and why not the others."""
    return await campaigns.dry_run(conn, segment_id=body.segment_id, code=body.feature_code, kind=body.kind)


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut, responses=CONFLICT)
async def create_campaign(body: CampaignIn, conn: ConnDep, principal: OemOrAdmin) -> campaigns.CampaignStatus:
    """Start a campaign over the segment's vehicles as they are now, at `rate_per_minute`."""
    return await campaigns.create(
        conn, name=body.name, segment_id=body.segment_id, code=body.feature_code, kind=body.kind,
        rate_per_minute=body.rate_per_minute, by=granted_by(principal),
    )  # fmt: skip


@router.get("/campaigns", response_model=list[CampaignOut], responses=AUTH_ERRORS)
async def list_campaigns(conn: ConnDep, principal: OemOrAdmin) -> list[campaigns.CampaignStatus]:
    return await campaigns.all_campaigns(conn)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=RECORD_ERRORS)
async def get_campaign(campaign_id: int, conn: ConnDep, principal: OemOrAdmin) -> campaigns.CampaignStatus:
    """The campaign and its live progress."""
    return await campaigns.get(conn, campaign_id=campaign_id)


@router.post("/campaigns/{campaign_id}/{action}", response_model=CampaignOut, responses=CONFLICT)
async def change_campaign(
    campaign_id: int,
    action: Literal["pause", "resume", "cancel"],
    conn: ConnDep,
    principal: OemOrAdmin,
) -> campaigns.CampaignStatus:
    """pause, resume, or cancel (vehicles not yet released are left alone; released ones keep the option)."""
    return await campaigns.set_state(conn, campaign_id=campaign_id, action=action)
