"""The OEM's software-version and option-business views: a version with clearly more open incidents
than the rest of its model is flagged, with its counts, and a version of three cars is not (noise);
per option and month, trials, conversions, paid activations, renewals, cancellations, expiries and
the usage-based offers' funnel come out of the records as counted by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from telemetry.settings import Settings
from telemetry.storage.db import connect
from tests.fix_services import api_client, make_key
from tests.test_fleet_health import incident

NOW = datetime.now(UTC).replace(microsecond=0)


def test_a_version_with_more_incidents_than_its_model_is_flagged_with_its_counts(settings: Settings) -> None:
    async def go() -> None:
        async with await connect(settings) as conn:
            fleet = [("1.0" if i < 100 else "2.0" if i < 200 else "3.0", i) for i in range(203)]
            ids = {}
            for version, i in fleet:
                cur = await conn.execute(
                    "INSERT INTO vehicles (vin, make, model, model_year, powertrain, vss_version, software_version)"
                    " VALUES (%s, 'Aurora', 'Compact 1.5', 2024, 'combustion', '6.0', %s) RETURNING id",
                    (f"WAUZZZ8V{i:09d}", version),
                )
                ids[i] = (await cur.fetchone())["id"]  # type: ignore[index]
            sick = [*range(20), 100, 101, 200]  # 20 of 1.0, 2 of 2.0, 1 of the three 3.0 cars
            for i in sick:
                await incident(conn, ids[i], "coolant_overtemp", "cooling", NOW - timedelta(days=1))
            await conn.commit()
        async with api_client(settings, make_key(settings, "oem")) as oem:
            answer = await oem.get("/fleet/software-versions")
        assert answer.status_code == 200, answer.text
        (model,) = answer.json()
        assert (model["model"], model["vehicles"], model["affected"], model["per_1000"]) == (
            "Compact 1.5",
            203,
            23,
            113.3,
        )
        versions = {v["version"]: v for v in model["versions"]}
        assert list(versions) == ["1.0", "2.0", "3.0"]
        assert (versions["1.0"]["affected"], versions["1.0"]["per_1000"], versions["1.0"]["higher_than_model"]) == (
            20,
            200.0,
            True,
        )
        assert versions["1.0"]["z"] > 2.58
        assert versions["2.0"]["higher_than_model"] is False
        assert versions["3.0"]["per_1000"] == 333.3  # the highest rate of all, and one car: not a signal
        assert versions["3.0"]["higher_than_model"] is False

    asyncio.run(go())


def test_the_option_funnel_counts_trials_conversions_renewals_and_offers_per_month(settings: Settings) -> None:
    month = NOW.replace(day=1, hour=12, minute=0, second=0)
    last_month = (month - timedelta(days=1)).replace(day=1)

    async def go() -> None:
        async with await connect(settings) as conn:
            await conn.execute(
                "INSERT INTO features (code, name, price_model, price, currency, trial_days)"
                " VALUES ('heated_seats', 'Heated seats', 'monthly', 9.9, 'EUR', 30)"
            )
            vehicles = []
            for i in range(4):
                cur = await conn.execute(
                    "INSERT INTO vehicles (vin, make, model, model_year, powertrain, vss_version)"
                    " VALUES (%s, 'Aurora', 'Compact 1.5', 2024, 'combustion', '6.0') RETURNING id",
                    (f"WAUZZZ8V{i:09d}",),
                )
                vehicles.append((await cur.fetchone())["id"])  # type: ignore[index]

            async def grant(vehicle: int, kind: str, at: datetime, state: str = "ended") -> int:
                cur = await conn.execute(
                    "INSERT INTO entitlements (vehicle_id, feature_code, kind, state, granted_by, starts_at)"
                    " VALUES (%s, 'heated_seats', %s, %s, 'test', %s) RETURNING id",
                    (vehicle, kind, state, at),
                )
                return int((await cur.fetchone())["id"])  # type: ignore[index]

            # last month: three trials; vehicle 0's converts to a subscription this month
            trials = [await grant(v, "trial", last_month + timedelta(days=1)) for v in vehicles[:3]]
            paid = await grant(vehicles[0], "subscription", month + timedelta(hours=1), "active")
            await grant(vehicles[3], "purchase", last_month + timedelta(days=2), "failed")  # never counted
            for entitlement, event in ((trials[1], "expired"), (trials[2], "disabled"), (paid, "renewed")):
                await conn.execute(
                    "INSERT INTO entitlement_events (entitlement_id, at, event, detail, by)"
                    " VALUES (%s, %s, %s, '', 't')",
                    (entitlement, month + timedelta(hours=2), event),
                )
            # two offers last month: one became vehicle 0's trial (which converted), one was dismissed
            for vehicle, state, entitlement in ((vehicles[0], "accepted", trials[0]), (vehicles[3], "dismissed", None)):
                await conn.execute(
                    "INSERT INTO offers (vehicle_id, feature_code, rule_id, state, reason, first_seen, last_seen,"
                    " entitlement_id) VALUES (%s, 'heated_seats', 'cold_starts', %s, 'cold', %s, %s, %s)",
                    (vehicle, state, last_month + timedelta(hours=3), last_month + timedelta(hours=3), entitlement),
                )
            await conn.commit()
        async with api_client(settings, make_key(settings, "oem")) as oem:
            answer = await oem.get("/fleet/option-funnel", params={"months": 2})
        assert answer.status_code == 200, answer.text
        rows = {r["month"]: r for r in answer.json()}
        before, now = rows[last_month.strftime("%Y-%m")], rows[month.strftime("%Y-%m")]
        assert (before["trials_started"], before["trials_converted"], before["trial_conversion"]) == (3, 1, 0.3333)
        assert before["paid_activations"] == 0  # the failed purchase is not a sale
        assert (before["offers"], before["offers_to_trial"], before["offers_to_paid"]) == (2, 1, 1)
        assert (before["offer_to_trial"], before["offer_trial_to_paid"]) == (0.5, 1.0)
        assert (now["paid_activations"], now["renewals"], now["cancellations"], now["expiries"]) == (1, 1, 1, 1)
        assert now["trials_started"] == 0

    asyncio.run(go())
