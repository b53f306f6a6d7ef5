"""The alert lifecycle in the database: one active alert per vehicle and rule, reopen within cool-down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from telemetry.settings import Settings
from telemetry.storage import alerts
from telemetry.storage.db import connect
from tests.fix_services import add_vehicle

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def firing(vehicle_id: int, at: datetime, peak: float) -> alerts.Firing:
    return alerts.Firing(
        vehicle_id=vehicle_id,
        rule_id="coolant_overtemp",
        rule_version=1,
        severity="critical",
        title="Engine coolant over-temperature",
        explanation=f"peak {peak}",
        first_seen=at - timedelta(seconds=30),
        last_seen=at,
        peak_value=peak,
        evidence={},
        rule_kind="threshold",
    )


def lifecycle(settings: Settings) -> list[tuple[bool, str, int, float]]:
    async def go() -> list[tuple[bool, str, int, float]]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "1HGCM82633A004352")
            first = await alerts.fire(conn, firing(vid, T0, 118.0), reopen_within=HOUR)
            again = await alerts.fire(conn, firing(vid, T0 + timedelta(minutes=1), 121.0), reopen_within=HOUR)
            assert again == first  # the active alert is refreshed, not duplicated
            await alerts.clear(conn, alerts.Clearing(vid, "coolant_overtemp", T0 + timedelta(minutes=5)))
            reopened = await alerts.fire(conn, firing(vid, T0 + timedelta(minutes=30), 119.0), reopen_within=HOUR)
            assert reopened == first  # within the cool-down: the same alert, open again
            await alerts.clear(conn, alerts.Clearing(vid, "coolant_overtemp", T0 + timedelta(minutes=40)))
            fresh = await alerts.fire(conn, firing(vid, T0 + 3 * HOUR, 112.0), reopen_within=HOUR)
            assert fresh != first  # long after: a new alert
            await conn.commit()
            cur = await conn.execute("SELECT id, state, occurrences, peak_value FROM alerts ORDER BY id")
            return [(r["id"] == first, r["state"], r["occurrences"], r["peak_value"]) for r in await cur.fetchall()]

    return asyncio.run(go())


def test_an_alert_refreshes_clears_reopens_within_cooldown_and_is_new_after(settings: Settings) -> None:
    assert lifecycle(settings) == [(True, "cleared", 3, 121.0), (False, "open", 1, 112.0)]


def test_replaying_firings_and_clearings_changes_nothing(settings: Settings) -> None:
    async def go() -> list[tuple[str, int, datetime | None]]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "1HGCM82633A004352")
            clear_at = alerts.Clearing(vid, "coolant_overtemp", T0 + timedelta(minutes=5))
            story = [
                ("fire", firing(vid, T0, 118.0)),
                ("clear", clear_at),
                ("fire", firing(vid, T0 + timedelta(minutes=30), 119.0)),
            ]
            for _ in range(2):  # as told, then replayed after a crash
                for what, event in story:
                    if what == "fire":
                        await alerts.fire(conn, event, reopen_within=HOUR)  # type: ignore[arg-type]
                    else:
                        await alerts.clear(conn, event)  # type: ignore[arg-type]
            await conn.commit()
            cur = await conn.execute("SELECT state, occurrences, cleared_at FROM alerts ORDER BY id")
            return [(r["state"], r["occurrences"], r["cleared_at"]) for r in await cur.fetchall()]

    assert asyncio.run(go()) == [("open", 2, None)]


def test_the_database_refuses_a_second_active_alert(settings: Settings) -> None:
    with psycopg.connect(settings.require_database_url()) as conn:
        conn.execute(f"SET search_path = {settings.database_schema}")
        vid = conn.execute(
            "INSERT INTO vehicles (vin, make, model, model_year, powertrain)"
            " VALUES ('1HGCM82633A004352', 'Aurora', 'Compact 1.5', 2024, 'combustion') RETURNING id"
        ).fetchone()[0]
        insert = (
            "INSERT INTO alerts (vehicle_id, rule_id, rule_version, severity, state, title, explanation,"
            " first_seen, last_seen) VALUES (%s, 'r', 1, 'warning', %s, 't', 'e', now(), now())"
        )
        conn.execute(insert, (vid, "open"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (vid, "acknowledged"))
