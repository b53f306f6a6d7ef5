"""The OEM's pages of the console: fleet health (now, week by week, the vehicles behind a number),
software versions, the option business, and segments with their campaigns. OEM and admin keys
only; like the API behind them, they show vehicles and aggregates, never a customer."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.render import page
from api.console.session import ConsoleUser
from api.deps import ConnDep
from crm import entitlements
from oem import campaigns, fleet_health, option_funnel, segments, software_versions
from telemetry.errors import PermissionDeniedError
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Row

router = APIRouter()  # included by the pages module, under /console
WEEKS = 26
SPARK_W, SPARK_H = 180, 36


def _oem(principal: Principal) -> None:
    if principal.role not in ("admin", "oem"):
        raise PermissionDeniedError("these pages are the OEM's: sign in with an OEM or admin key")


def sparkline(values: list[float]) -> str:
    """An SVG polyline's points for a week-by-week series (highest value at the top)."""
    top = max(values) or 1.0
    step = SPARK_W / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{SPARK_H - 2 - v / top * (SPARK_H - 4):.1f}" for i, v in enumerate(values))


def weekly_series(rows: list[Row], system: str) -> list[dict[str, object]]:
    """Per group, the system's per-1,000 rate for each of the last WEEKS weeks (0 where none)."""
    weeks = sorted({r["week"] for r in rows})
    by_group: dict[str, dict[datetime, float]] = defaultdict(dict)
    for r in rows:
        if r["system"] == system:
            by_group[str(r["group"])][r["week"]] = float(r["per_1000"])
    series = []
    for group, points in sorted(by_group.items()):
        values = [points.get(w, 0.0) for w in weeks]
        series.append({"group": group, "points": sparkline(values), "last": values[-1], "peak": max(values)})
    return series


@router.get("/fleet", response_class=HTMLResponse)
async def fleet_page(
    request: Request,
    conn: ConnDep,
    principal: ConsoleUser,
    by: Literal["model", "model_year", "software_version"] = "model",
    system: Annotated[str, Query(max_length=40)] = "",
    group: Annotated[str, Query(max_length=80)] = "",
) -> HTMLResponse:
    _oem(principal)
    now = await fleet_health.current(conn, by=by)
    weekly = await fleet_health.weekly(conn, by=by, weeks=WEEKS, now=datetime.now(UTC))
    systems = sorted({s for g in now for s in g["systems"]} | {str(r["system"]) for r in weekly})  # type: ignore[attr-defined]
    chosen = system if system in systems else (systems[0] if systems else "")
    behind = await fleet_health.vehicles(conn, by=by, group=group, system=system or None, limit=200) if group else None
    return page(
        request, "fleet.html", principal, by=by, groups=now, systems=systems, system=chosen, group=group,
        series=weekly_series(weekly, chosen), spark={"w": SPARK_W, "h": SPARK_H}, behind=behind,
        versions=await software_versions.by_model(conn),
        funnel=await option_funnel.monthly(conn, months=6, now=datetime.now(UTC)),
    )  # fmt: skip


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, conn: ConnDep, principal: ConsoleUser) -> HTMLResponse:
    _oem(principal)
    saved = [await segments.with_size(conn, segment) for segment in await segments.all_segments(conn)]
    return page(
        request, "campaigns.html", principal, segments=saved, campaigns=await campaigns.all_campaigns(conn),
        features=await entitlements.list_features(conn),
    )  # fmt: skip
