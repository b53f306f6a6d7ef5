"""Software versions per model: how many vehicles run each, and which versions have more vehicles
with an open incident than the rest of their model, with the counts and a two-proportion z score so
that a version with three cars and one incident is not read as a signal (one aggregate query)."""

from __future__ import annotations

import math
from collections import defaultdict

from crm import features
from oem.fleet_health import GROUPINGS, WORKING, per_1000
from telemetry.storage.db import Conn

VERSION = GROUPINGS["software_version"]  # 'unknown' where a vehicle never reported one
UNKNOWN = "unknown"
SIGNAL_Z = 2.58  # two-sided 99 %: a version is flagged only above this
SIGNAL_MIN_AFFECTED = 3  # and only with at least this many affected vehicles


def z_score(affected: int, vehicles: int, model_affected: int, model_vehicles: int) -> float | None:
    """The version's rate against the rest of its model; None when there is no rest to compare."""
    rest_vehicles, rest_affected = model_vehicles - vehicles, model_affected - affected
    if vehicles == 0 or rest_vehicles == 0:
        return None
    pooled = model_affected / model_vehicles
    spread = math.sqrt(pooled * (1 - pooled) * (1 / vehicles + 1 / rest_vehicles))
    if spread == 0:
        return 0.0
    return round((affected / vehicles - rest_affected / rest_vehicles) / spread, 2)


def _version_key(version: str) -> tuple[int, ...]:
    return features.version(version) if version != UNKNOWN else (-1,)


async def by_model(conn: Conn) -> list[dict[str, object]]:
    cur = await conn.execute(
        f"WITH fleet AS (SELECT v.model, {VERSION} AS version, count(*) AS vehicles FROM vehicles v GROUP BY 1, 2),"
        f" hit AS (SELECT v.model, {VERSION} AS version,"
        f"  count(DISTINCT i.vehicle_id) AS affected FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id"
        f"  WHERE {WORKING} GROUP BY 1, 2)"
        " SELECT fleet.model, fleet.version, fleet.vehicles, COALESCE(hit.affected, 0) AS affected"
        " FROM fleet LEFT JOIN hit USING (model, version)"
    )
    models: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for r in await cur.fetchall():
        models[str(r["model"])].append((str(r["version"]), int(r["vehicles"]), int(r["affected"])))
    out = []
    for model, versions in sorted(models.items()):
        vehicles, affected = sum(v[1] for v in versions), sum(v[2] for v in versions)
        rows = []
        for version, n, a in sorted(versions, key=lambda v: _version_key(v[0])):
            z = z_score(a, n, affected, vehicles)
            rows.append({
                "version": version, "vehicles": n, "share": round(n / vehicles, 4), "affected": a,
                "per_1000": per_1000(a, n), "z": z,
                "higher_than_model": z is not None and z >= SIGNAL_Z and a >= SIGNAL_MIN_AFFECTED,
            })  # fmt: skip
        out.append({"model": model, "vehicles": vehicles, "affected": affected,
                    "per_1000": per_1000(affected, vehicles), "versions": rows})  # fmt: skip
    return out
