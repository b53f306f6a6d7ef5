"""Recall campaigns from the manufacturer; open ones show on each vehicle concerned."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import DealerReader, OemOrAdmin
from api.deps import ConnDep
from api.schemas.common import RECORD_ERRORS, ErrorOut
from api.schemas.vehicles import RecallIn, RecallStatus
from crm import recalls
from crm.recalls import RecallProgress

router = APIRouter(prefix="/recalls", tags=["recalls"])


@router.post(
    "",
    response_model=RecallStatus,
    status_code=201,
    responses=RECORD_ERRORS | {409: {"model": ErrorOut}},
    summary="Issue a recall for vehicles named by VIN, or by make, models and model years",
)
async def create_recall(body: RecallIn, conn: ConnDep, _principal: OemOrAdmin) -> RecallProgress:
    return await recalls.create(conn, **body.model_dump())


@router.get(
    "/{code}",
    response_model=RecallStatus,
    responses=RECORD_ERRORS,
    summary="A recall, with how many registered vehicles it concerns and how many have had it done",
)
async def get_recall(code: str, conn: ConnDep, _principal: DealerReader) -> RecallProgress:
    return await recalls.get_by_code(conn, code=code)
