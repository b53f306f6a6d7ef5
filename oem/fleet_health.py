"""Fleet health for OEMs: per model, model year or software version, the vehicles with an open
incident per 1,000 vehicles, by system, now and week by week, and the vehicles behind a number.

Each view is one aggregate query over `vehicles` and `incidents` (no loop over vehicles), so it
answers at fleet scale. No customer data is read: OEM keys see vehicles and aggregates only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from telemetry.storage.db import Conn, Row
from telemetry.vocabulary import severity_rank_sql

GROUPINGS = {  # what a fleet is cut by -> the SQL for a vehicle's group (aliases `v`)
    "model": "v.model",
    "model_year": "v.model_year::text",
    "software_version": "COALESCE(v.software_version, 'unknown')",
}
WORKING = "i.state IN ('open', 'acknowledged')"
SEVERITY_RANK = severity_rank_sql("i.severity")


def _fleet(by: str) -> str:
    """The `fleet` CTE: each group's vehicles, the denominator of every rate."""
    return f"fleet AS (SELECT {GROUPINGS[by]} AS grp, count(*) AS vehicles FROM vehicles v GROUP BY 1)"


def _columns(rows: list[Row]) -> tuple[list[object], ...]:
    """(week, grp, system, affected) rows as the four arrays a query unnests."""
    return tuple([r[k] for r in rows] for k in ("week", "grp", "system", "affected"))


def per_1000(count: int, vehicles: int) -> float:
    return round(count * 1000 / vehicles, 1) if vehicles else 0.0


async def current(conn: Conn, *, by: str) -> list[dict[str, object]]:
    """Per group: vehicles, vehicles with an open incident (and per 1,000), and the same by system."""
    group = GROUPINGS[by]
    cur = await conn.execute(
        f"WITH {_fleet(by)},"
        f" hit AS (SELECT {group} AS grp, i.system, count(DISTINCT i.vehicle_id) AS affected"
        f"  FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id WHERE {WORKING}"
        f"  GROUP BY GROUPING SETS (({group}, i.system), ({group})))"
        " SELECT fleet.grp, fleet.vehicles, hit.system, COALESCE(hit.affected, 0) AS affected"
        " FROM fleet LEFT JOIN hit ON hit.grp = fleet.grp ORDER BY 1, 3 NULLS FIRST"
    )
    out: dict[str, dict[str, object]] = {}
    systems: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for r in await cur.fetchall():
        name, vehicles = str(r["grp"]), int(r["vehicles"])
        entry = out.setdefault(name, {"group": name, "vehicles": vehicles, "affected": 0, "per_1000": 0.0})
        if r["system"] is None:  # the group's total: vehicles with any open incident
            entry["affected"], entry["per_1000"] = int(r["affected"]), per_1000(int(r["affected"]), vehicles)
        else:
            systems[name][str(r["system"])] = {
                "affected": int(r["affected"]),
                "per_1000": per_1000(r["affected"], vehicles),
            }
    return [{**entry, "systems": systems[name]} for name, entry in out.items()]


WEEKS_SQL = """
SELECT w.week, {group} AS grp, i.system, count(DISTINCT i.vehicle_id) AS affected
FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id
CROSS JOIN LATERAL generate_series(greatest(date_trunc('week', i.first_seen, 'UTC'), %(first)s),
    least(date_trunc('week', COALESCE(i.resolved_at, i.cleared_at, %(last)s), 'UTC'), %(last)s),
    interval '1 week') AS w(week)
WHERE i.first_seen < %(last)s + interval '1 week' AND COALESCE(i.resolved_at, i.cleared_at, 'infinity') >= %(first)s
GROUP BY 1, 2, 3
"""


async def _weeks(conn: Conn, by: str, first: datetime, last: datetime) -> list[Row]:
    """Per week from `first` to `last` (Mondays, UTC), group and system: the vehicles with an
    incident open at any time that week. Each incident of the span is spread over the weeks it
    was open (mostly one or two), rather than every week joined with every incident."""
    cur = await conn.execute(WEEKS_SQL.format(group=GROUPINGS[by]), {"first": first, "last": last})
    return list(await cur.fetchall())


async def weekly(conn: Conn, *, by: str, weeks: int, now: datetime) -> list[Row]:
    """Per ISO week (the last `weeks`), group and system: vehicles with an incident open at any
    time in the week, per 1,000 vehicles of the group. Finished weeks come from `fleet_weekly`,
    computed on the first read that needs them (and again after the triggers of migration 23
    forgot them); the current week is computed on every read."""
    this_week = week_of(now)
    first = this_week - timedelta(weeks=weeks - 1)
    last_finished = this_week - timedelta(weeks=1)
    if await _first_missing(conn, by, first, last_finished) is not None:
        async with conn.transaction():
            await conn.execute("LOCK TABLE fleet_weekly_weeks IN SHARE ROW EXCLUSIVE MODE")  # see migration 23
            missing = await _first_missing(conn, by, first, last_finished)
            if missing is not None:  # compute the finished weeks from the first one missing, and keep them
                rows = await _weeks(conn, by, missing, last_finished)
                await conn.execute(
                    "INSERT INTO fleet_weekly_weeks (grouping, week) SELECT %s, w"
                    " FROM generate_series(%s, %s, interval '1 week') AS w ON CONFLICT DO NOTHING",
                    (by, missing, last_finished),
                )
                await conn.execute(
                    "INSERT INTO fleet_weekly (grouping, week, grp, system, affected)"
                    " SELECT %s, * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::integer[])"
                    " ON CONFLICT (grouping, week, grp, system) DO UPDATE SET affected = EXCLUDED.affected",
                    (by, *_columns(rows)),
                )
    current = await _weeks(conn, by, this_week, this_week)
    cur = await conn.execute(
        f"WITH {_fleet(by)},"
        " hit AS (SELECT week, grp, system, affected FROM fleet_weekly WHERE grouping = %s AND week >= %s"
        "  UNION ALL SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::integer[]))"
        " SELECT hit.week, hit.grp AS group, hit.system, hit.affected, fleet.vehicles,"
        "  round(hit.affected * 1000.0 / fleet.vehicles, 1)::float AS per_1000"
        " FROM hit JOIN fleet ON fleet.grp = hit.grp ORDER BY 1, 2, 3",
        (by, first, *_columns(current)),
    )
    return list(await cur.fetchall())


async def _first_missing(conn: Conn, by: str, first: datetime, last: datetime) -> datetime | None:
    """The first finished week of the span not kept in `fleet_weekly` (None: all are)."""
    cur = await conn.execute(
        "SELECT min(w) AS missing FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 week') AS w"
        " WHERE NOT EXISTS (SELECT 1 FROM fleet_weekly_weeks k WHERE k.grouping = %s AND k.week = w)",
        (first, last, by),
    )
    row = await cur.fetchone()
    return None if row is None else row["missing"]


def week_of(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the moment's ISO week."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def vehicles(conn: Conn, *, by: str, group: str, system: str | None, limit: int) -> list[Row]:
    """The vehicles behind a number: those of the group with an open incident (of the system)."""
    cur = await conn.execute(
        "SELECT v.vin, v.model, v.model_year, v.software_version, i.id AS incident_id, i.system, i.severity,"
        f" i.title, i.first_seen FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id WHERE {WORKING}"
        f" AND {GROUPINGS[by]} = %s AND (%s::text IS NULL OR i.system = %s)"
        f" ORDER BY {SEVERITY_RANK}, i.first_seen, i.id LIMIT %s",
        (group, system, system, limit),
    )
    return list(await cur.fetchall())
