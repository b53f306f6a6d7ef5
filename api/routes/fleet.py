"""Fleet health for OEMs and admins: open incidents per 1,000 vehicles by model, model year or
software version and system, now and week by week, and the vehicles behind each number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import OemOrAdmin
from api.deps import ConnDep
from api.schemas.common import AUTH_ERRORS
from api.schemas.fleet import FleetGroupOut, FleetVehicleOut, ModelVersionsOut, OptionMonthOut, WeeklyRateOut
from oem import fleet_health, option_funnel, software_versions

router = APIRouter(prefix="/fleet", tags=["fleet"])
By = Annotated[Literal["model", "model_year", "software_version"], Query(description="How the fleet is cut")]


@router.get("/health", response_model=list[FleetGroupOut], responses=AUTH_ERRORS, summary="Fleet health now")
async def fleet_health_now(conn: ConnDep, principal: OemOrAdmin, by: By = "model") -> list[dict[str, object]]:
    return await fleet_health.current(conn, by=by)


@router.get(
    "/health/weekly",
    response_model=list[WeeklyRateOut],
    responses=AUTH_ERRORS,
    summary="Fleet health week by week (a chart's series)",
)
async def fleet_health_weekly(
    conn: ConnDep,
    principal: OemOrAdmin,
    by: By = "model",
    weeks: Annotated[int, Query(ge=1, le=104, description="How many weeks back, this one included")] = 26,
) -> list[dict[str, object]]:
    return await fleet_health.weekly(conn, by=by, weeks=weeks, now=datetime.now(UTC))


@router.get(
    "/health/vehicles",
    response_model=list[FleetVehicleOut],
    responses=AUTH_ERRORS,
    summary="The vehicles behind a number: a group's vehicles with an open incident (of a system)",
)
async def fleet_health_vehicles(
    conn: ConnDep,
    principal: OemOrAdmin,
    group: Annotated[str, Query(min_length=1, max_length=80, description="The model, model year or version")],
    by: By = "model",
    system: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, object]]:
    return await fleet_health.vehicles(conn, by=by, group=group, system=system, limit=limit)


@router.get(
    "/software-versions",
    response_model=list[ModelVersionsOut],
    responses=AUTH_ERRORS,
    summary="Software versions per model, and those with more open incidents than their model",
)
async def fleet_software_versions(conn: ConnDep, principal: OemOrAdmin) -> list[dict[str, object]]:
    return await software_versions.by_model(conn)


@router.get(
    "/option-funnel",
    response_model=list[OptionMonthOut],
    responses=AUTH_ERRORS,
    summary="Per option and month: trials, conversions, paid activations, renewals, cancellations, offers",
)
async def fleet_option_funnel(
    conn: ConnDep,
    principal: OemOrAdmin,
    months: Annotated[int, Query(ge=1, le=36, description="How many months back, this one included")] = 12,
) -> list[dict[str, object]]:
    return await option_funnel.monthly(conn, months=months, now=datetime.now(UTC))
