"""Campaigns: one software option activated (or offered as a trial) for every eligible vehicle of a
segment, at a set rate, with live progress; paused, resumed and cancelled; surviving restarts.

A campaign fixes its vehicles when it is created (the segment's members then). The runner
(`release_due`, called every second by the commands process) releases the vehicles owed by the
rate since the campaign last released, checking each one's eligibility again at its turn: an
eligible vehicle gets an entitlement and its signed enable command (the command dispatcher sends,
times out and retries it as for any activation); another is skipped with the reason. State lives
in the database only, so a restarted runner carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import psycopg

from crm import entitlements, features
from oem import segments
from telemetry.errors import ConflictError, NotFoundError
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect
from telemetry.storage.typed_rows import fetch_all, fetch_one, select_list, widened
from telemetry.vocabulary import CampaignState, EntitlementKind

log = logging.getLogger(__name__)
RELEASE_BATCH = 500  # vehicles per transaction


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """A campaign as stored."""

    id: int
    name: str
    segment_id: int
    feature_code: str
    kind: EntitlementKind
    rate_per_minute: int
    state: CampaignState
    created_by: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStatus(Campaign):
    progress: dict[str, object]  # see `progress_of`


@dataclass(frozen=True, slots=True)
class Running:
    """What the runner reads of a running campaign."""

    id: int
    feature_code: str
    kind: EntitlementKind
    rate_per_minute: int
    created_by: str
    released_until: datetime


COLUMNS = select_list(Campaign, "c")


async def dry_run(conn: Conn, *, segment_id: int, code: str, kind: str) -> dict[str, object]:
    """How many of the segment's vehicles a campaign would activate now, and why the others not."""
    segment = await segments.get(conn, segment_id=segment_id)
    vehicles = await segments.members(conn, segment.filter)
    feature = await entitlements.get_feature(conn, code=code)
    sorted_ = await segments.sort_by_eligibility(conn, vehicles, feature, kind)
    return {
        "segment_vehicles": sorted_.vehicles,
        "eligible": len(sorted_.eligible),
        "not_eligible": [{"reason": r, "vehicles": n} for r, n in sorted_.not_eligible.most_common()],
    }


async def create(
    conn: Conn, *, name: str, segment_id: int, code: str, kind: str, rate_per_minute: int, by: str
) -> CampaignStatus:
    """A running campaign over the segment's members as they are now."""
    segment = await segments.get(conn, segment_id=segment_id)
    feature = await entitlements.get_feature(conn, code=code)
    if kind == "trial" and feature.trial_days is None:
        raise ConflictError(f"{code} has no trial")
    cur = await conn.execute(
        "INSERT INTO campaigns (name, segment_id, feature_code, kind, rate_per_minute, created_by)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (name, segment_id, code, kind, rate_per_minute, by),
    )
    row = await cur.fetchone()
    assert row is not None
    vehicles = await segments.members(conn, segment.filter)
    await conn.execute(
        "INSERT INTO campaign_targets (campaign_id, vehicle_id) SELECT %s, unnest(%s::integer[])",
        (row["id"], [v.id for v in vehicles]),
    )
    return await get(conn, campaign_id=int(row["id"]))


async def get(conn: Conn, *, campaign_id: int) -> CampaignStatus:
    query = f"SELECT {COLUMNS} FROM campaigns c WHERE c.id = %s"
    campaign = await fetch_one(conn, Campaign, query, (campaign_id,), missing=f"campaign {campaign_id} not found")
    return widened(campaign, CampaignStatus, progress=(await progress_of(conn, [campaign_id]))[campaign_id])


async def all_campaigns(conn: Conn) -> list[CampaignStatus]:
    rows = await fetch_all(conn, Campaign, f"SELECT {COLUMNS} FROM campaigns c ORDER BY c.id DESC")
    progress = await progress_of(conn, [r.id for r in rows])
    return [widened(r, CampaignStatus, progress=progress[r.id]) for r in rows]


async def progress_of(conn: Conn, campaign_ids: list[int]) -> dict[int, dict[str, object]]:
    """Where each campaign's vehicles stand (one query for all): waiting their turn, skipped (not
    eligible then), cancelled, or released and then as far as their command got: queued, sent,
    timed out (to be retried), acknowledged, rejected; `retried` counts commands sent more than
    once; reasons are counted."""
    cur = await conn.execute(
        "SELECT t.campaign_id, t.state AS target, cmd.state AS command, COALESCE(cmd.attempts, 0) > 1 AS retried,"
        " COALESCE(t.reason, cmd.reason) AS reason, count(*) AS n"
        " FROM campaign_targets t"
        " LEFT JOIN LATERAL (SELECT state, attempts, reason FROM vehicle_commands vc"
        "  WHERE vc.entitlement_id = t.entitlement_id AND vc.action = 'enable'"
        "  ORDER BY vc.created_at DESC LIMIT 1) cmd ON true"
        " WHERE t.campaign_id = ANY(%s) GROUP BY 1, 2, 3, 4, 5",
        (campaign_ids,),
    )
    stages = ("vehicles", "waiting", "queued", "sent", "timed_out", "acknowledged", "rejected", "skipped",
              "cancelled", "retried")  # fmt: skip
    out: dict[int, dict[str, object]] = {
        c: {**dict.fromkeys(stages, 0), "rejections": {}, "skip_reasons": {}} for c in campaign_ids
    }
    command_stage = {"pending": "queued", "sent": "sent", "timed_out": "timed_out", "accepted": "acknowledged",
                     "rejected": "rejected", "superseded": "acknowledged"}  # fmt: skip
    for r in await cur.fetchall():
        p, n = out[int(r["campaign_id"])], int(r["n"])
        counts = cast(dict[str, int], p)
        counts["vehicles"] += n
        stage = command_stage.get(r["command"], "queued") if r["target"] == "released" else r["target"]
        counts[stage] += n
        counts["retried"] += n if r["retried"] else 0
        reasons = {"rejected": "rejections", "skipped": "skip_reasons"}.get(stage)
        if reasons is not None:
            named = cast(dict[str, int], p[reasons])
            reason = r["reason"] or "no reason given"
            named[reason] = named.get(reason, 0) + n
    return out


async def set_state(conn: Conn, *, campaign_id: int, action: str) -> CampaignStatus:
    """pause (running -> paused), resume (paused -> running), cancel (running or paused ->
    cancelled: vehicles still waiting are not activated; those released keep their option)."""
    moves = {"pause": ("running", "paused"), "resume": ("paused", "running"), "cancel": (None, "cancelled")}
    wanted_from, to = moves[action]
    cur = await conn.execute("SELECT state FROM campaigns WHERE id = %s FOR UPDATE", (campaign_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    state = row["state"]
    if (wanted_from is not None and state != wanted_from) or state in ("cancelled", "completed"):
        raise ConflictError(f"campaign {campaign_id} is {state}: it cannot {action}")
    await conn.execute(
        "UPDATE campaigns SET state = %s, released_until = CASE WHEN %s = 'running' THEN now() ELSE released_until END,"
        " finished_at = CASE WHEN %s = 'cancelled' THEN now() END WHERE id = %s",
        (to, to, to, campaign_id),
    )
    if to == "cancelled":
        await conn.execute(
            "UPDATE campaign_targets SET state = 'cancelled' WHERE campaign_id = %s AND state = 'waiting'",
            (campaign_id,),
        )
    return await get(conn, campaign_id=campaign_id)


async def release_due(conn: Conn, *, now: datetime) -> int:
    """Release what the running campaigns owe by now (one transaction per campaign batch); returns
    the vehicles released or skipped."""
    query = f"SELECT {select_list(Running, 'campaigns')} FROM campaigns WHERE state = 'running' ORDER BY id"
    done = 0
    for campaign in await fetch_all(conn, Running, query):
        owed = int((now - campaign.released_until).total_seconds() * campaign.rate_per_minute / 60)
        if owed > 0:
            done += await _release(conn, campaign, min(owed, RELEASE_BATCH), now)
    return done


async def _release(conn: Conn, campaign: Running, owed: int, now: datetime) -> int:
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT t.vehicle_id FROM campaign_targets t WHERE t.campaign_id = %s AND t.state = 'waiting'"
            " ORDER BY t.vehicle_id LIMIT %s FOR UPDATE SKIP LOCKED",
            (campaign.id, owed),
        )
        ids = [r["vehicle_id"] for r in await cur.fetchall()]
        if not ids:  # every vehicle had its turn
            await conn.execute(
                "UPDATE campaigns SET state = 'completed', finished_at = %s WHERE id = %s", (now, campaign.id)
            )
            return 0
        feature = await entitlements.get_feature(conn, code=campaign.feature_code)
        sorted_ = await segments.sort_by_eligibility(conn, await segments.vehicles(conn, ids), feature, campaign.kind)
        by = f"campaign {campaign.id} ({campaign.created_by})"
        for vehicle in sorted_.eligible:
            granted = await entitlements.grant(
                conn, vehicle_id=vehicle.id, feature_code=campaign.feature_code, kind=campaign.kind,
                by=by, dealer_id=None, purchase_reference=f"campaign-{campaign.id}", starts_at=now,
                ends_at=features.ends_at(feature, campaign.kind, now), idempotency_key=None,
            )  # fmt: skip
            await conn.execute(
                "UPDATE campaign_targets SET state = 'released', entitlement_id = %s, released_at = %s"
                " WHERE campaign_id = %s AND vehicle_id = %s",
                (granted.id, now, campaign.id, vehicle.id),
            )
        if sorted_.refused:
            await conn.execute(
                "UPDATE campaign_targets t SET state = 'skipped', reason = r.reason"
                " FROM unnest(%s::integer[], %s::text[]) AS r(vehicle_id, reason)"
                " WHERE t.campaign_id = %s AND t.vehicle_id = r.vehicle_id",
                ([v.id for v, _ in sorted_.refused], [why for _, why in sorted_.refused], campaign.id),
            )
        advance = len(ids) * 60 / campaign.rate_per_minute
        await conn.execute(
            "UPDATE campaigns SET released_until = LEAST(%s, released_until + make_interval(secs => %s)) WHERE id = %s",
            (now, advance, campaign.id),
        )
    return len(ids)


async def keep_releasing(settings: Settings, interval_s: float = 1.0) -> None:
    """The runner: every `interval_s`, release what the running campaigns owe; a lost database
    connection is opened again (the campaigns' state is all in the database)."""
    while True:
        try:
            async with await connect(settings, autocommit=True) as conn:
                while True:
                    released = await release_due(conn, now=datetime.now(UTC))
                    if released:
                        log.info("campaigns: %d vehicle(s) had their turn", released)
                    await asyncio.sleep(interval_s)
        except psycopg.OperationalError as exc:
            log.warning("campaign runner: database unavailable (%s); retrying", exc)
            await asyncio.sleep(5 * interval_s)
