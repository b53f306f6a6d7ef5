"""Segments: saved filters over the fleet (model, model year, software version, hardware, dealer,
usage-offer state, eligibility for an option), and who in a segment may have an option and who not.

Membership is one SQL query; eligibility is the same check an activation makes
(`crm.features.ineligibility`), over every member's options read in one more query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from crm import entitlements, features
from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, select_list, widened

FILTER_KEYS = (
    "models", "model_year_from", "model_year_to", "software_versions", "min_software_version",
    "below_software_version", "hardware", "dealer_ids", "offer_feature", "offer_state", "eligible_for", "eligible_kind",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SegmentVehicle:
    """A segment's member: the vehicle only (no owner, no contact)."""

    id: int
    vin: str
    model: str
    model_year: int
    software_version: str | None
    hardware: list[str]
    dealer_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A saved filter over the fleet (`FILTER_KEYS`)."""

    id: int
    name: str
    filter: dict[str, Any]
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SizedSegment(Segment):
    vehicles: int  # members now


COLUMNS = select_list(Segment, "segments")
VEHICLE_COLUMNS = select_list(SegmentVehicle, "v")


def _version_array(expr: str) -> str:
    return f"string_to_array({expr}, '.')::int[]"


MEMBERS = f"""
SELECT {VEHICLE_COLUMNS} FROM vehicles v
WHERE (%(models)s::text[] IS NULL OR v.model = ANY(%(models)s))
  AND (%(model_year_from)s::int IS NULL OR v.model_year >= %(model_year_from)s)
  AND (%(model_year_to)s::int IS NULL OR v.model_year <= %(model_year_to)s)
  AND (%(software_versions)s::text[] IS NULL OR v.software_version = ANY(%(software_versions)s))
  AND (%(min_software_version)s::text IS NULL
       OR {_version_array("v.software_version")} >= {_version_array("%(min_software_version)s")})
  AND (%(below_software_version)s::text IS NULL
       OR {_version_array("v.software_version")} < {_version_array("%(below_software_version)s")})
  AND v.hardware @> COALESCE(%(hardware)s::text[], '{{}}')
  AND (%(dealer_ids)s::bigint[] IS NULL OR v.dealer_id = ANY(%(dealer_ids)s))
  AND (%(offer_state)s::text IS NULL OR EXISTS (SELECT 1 FROM offers o WHERE o.vehicle_id = v.id
       AND o.feature_code = %(offer_feature)s AND o.state = %(offer_state)s))
ORDER BY v.id
"""


@dataclass(frozen=True)
class Sorted:
    """A segment's vehicles sorted by whether they may have an option."""

    vehicles: int
    eligible: list[SegmentVehicle]
    refused: list[tuple[SegmentVehicle, str]]  # (vehicle, why not)

    @property
    def not_eligible(self) -> Counter[str]:
        """Reason -> vehicles."""
        return Counter(reason for _, reason in self.refused)


def _params(filter_: Mapping[str, Any]) -> dict[str, Any]:
    params = {key: filter_.get(key) for key in FILTER_KEYS}
    params["offer_feature"] = params["offer_feature"] or params["eligible_for"]
    return params


async def members(conn: Conn, filter_: Mapping[str, Any]) -> list[SegmentVehicle]:
    return await fetch_all(conn, SegmentVehicle, MEMBERS, _params(filter_))


async def vehicles(conn: Conn, vehicle_ids: list[int]) -> list[SegmentVehicle]:
    query = f"SELECT {VEHICLE_COLUMNS} FROM vehicles v WHERE v.id = ANY(%s) ORDER BY v.id"
    return await fetch_all(conn, SegmentVehicle, query, (vehicle_ids,))


async def sort_by_eligibility(
    conn: Conn, vehicles: list[SegmentVehicle], feature: features.Feature, kind: str
) -> Sorted:
    """Who among `vehicles` may have the option (its catalog row) as `kind` now, and why the others may not."""
    cur = await conn.execute(
        "SELECT vehicle_id, array_agg(feature_code) FILTER (WHERE state IN ('pending', 'active')) AS live,"
        " array_agg(feature_code) FILTER (WHERE kind = 'trial') AS trials"
        " FROM entitlements WHERE vehicle_id = ANY(%s) GROUP BY vehicle_id",
        ([v.id for v in vehicles],),
    )
    history = {r["vehicle_id"]: (r["live"] or [], r["trials"] or []) for r in await cur.fetchall()}
    eligible: list[SegmentVehicle] = []
    refused: list[tuple[SegmentVehicle, str]] = []
    for vehicle in vehicles:
        live, trials = history.get(vehicle.id, ([], []))
        reason = features.ineligibility(feature, vehicle, kind=kind, live=live, trials_had=trials)
        if reason is None:
            eligible.append(vehicle)
        else:
            refused.append((vehicle, reason))
    return Sorted(len(vehicles), eligible, refused)


async def resolve(conn: Conn, filter_: Mapping[str, Any]) -> Sorted:
    """A filter's vehicles, sorted by eligibility when it names an option (`eligible_for`), which
    then keeps only the eligible ones as members."""
    found = await members(conn, filter_)
    code = filter_.get("eligible_for")
    if code is None:
        return Sorted(len(found), found, [])
    feature = await entitlements.get_feature(conn, code=str(code))
    return await sort_by_eligibility(conn, found, feature, str(filter_.get("eligible_kind") or "trial"))


async def with_size(conn: Conn, segment: Segment) -> SizedSegment:
    """The segment with `vehicles`: how many it holds now."""
    size = len((await resolve(conn, segment.filter)).eligible)
    return widened(segment, SizedSegment, vehicles=size)


async def create(conn: Conn, *, name: str, filter_: Mapping[str, Any], by: str) -> Segment:
    if filter_.get("eligible_for") is not None:
        await entitlements.get_feature(conn, code=str(filter_["eligible_for"]))  # 404 for an unknown option
    query = (
        "INSERT INTO segments (name, filter, created_by) VALUES (%s, %s, %s)"
        f" ON CONFLICT (name) DO NOTHING RETURNING {COLUMNS}"
    )
    try:
        return await fetch_one(conn, Segment, query, (name, Jsonb(dict(filter_)), by), missing=name)
    except NotFoundError:  # nothing inserted: the name is taken
        raise ConflictError(f"a segment named {name!r} exists already") from None


async def get(conn: Conn, *, segment_id: int) -> Segment:
    query = f"SELECT {COLUMNS} FROM segments WHERE id = %s"
    return await fetch_one(conn, Segment, query, (segment_id,), missing=f"segment {segment_id} not found")


async def all_segments(conn: Conn) -> list[Segment]:
    return await fetch_all(conn, Segment, f"SELECT {COLUMNS} FROM segments ORDER BY id")
