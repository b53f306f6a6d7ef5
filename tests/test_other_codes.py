"""Every code a car reports reaches the advisor: a code outside the packaged table gets a rule of
its own, described from its SAE J2012 structure and marked as such, clearing like the others;
a restarted worker recreates it for an alert still open."""

from __future__ import annotations

import asyncio

import numpy as np

from crm import records
from rules.definitions import load_rules
from rules.worker import RuleWorker
from telemetry import dtc
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect

CATALOG = default_catalog()
DTC_LIST = CATALOG["Vehicle.Diagnostics.DTCList"].id
T0 = 1_790_000_000_000


def report(vehicle_id: int, ts: int, codes: list[str]) -> RuleBatch:
    """One DTC report: a row per code, or one empty (NaN) row for an empty list."""
    values = [dtc.encode(c) for c in codes] or [np.nan]
    n = len(values)
    return RuleBatch(
        np.full(n, vehicle_id, np.int32), np.full(n, ts, np.int64), np.full(n, DTC_LIST, np.int16), np.array(values)
    )


async def alert_rows(settings: Settings) -> list[tuple[str, str, str, str]]:
    async with await connect(settings) as conn:
        cur = await conn.execute("SELECT rule_id, severity, state, title FROM alerts ORDER BY rule_id")
        return [(r["rule_id"], r["severity"], r["state"], r["title"]) for r in await cur.fetchall()]


async def vehicle(conn: Conn) -> int:
    row = await records.create_vehicle(
        conn, vin="1HGCM82633A004352", make="Aurora", model="Compact 1.5", model_year=2024, powertrain="combustion",
        owner_customer_id=None, dealer_id=None, vss_version="6.0", delivered_on=None,
    )  # fmt: skip
    await conn.commit()
    return row.id


def test_a_code_outside_the_table_raises_an_alert_described_from_its_structure(settings: Settings) -> None:
    async def scenario() -> None:
        async with await connect(settings, autocommit=True) as conn:
            vid = await vehicle(conn)
        worker = RuleWorker(settings, rules=load_rules(CATALOG))
        assert "dtc.P0135" not in {r.id for r in worker.rules}
        await worker.with_database(worker.load_fleet)
        await worker.with_database(lambda c: worker.apply(c, report(vid, T0, ["P0135", "P0217"]), arrived_ms=T0))
        rows = await alert_rows(settings)
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("dtc.P0135", "warning", "open"),
            ("dtc.P0217", "critical", "open"),
        ]
        assert rows[0][3] == (
            "P0135: Generic powertrain code, fuel and air metering (not in the server's code table:"
            " ask the manufacturer's documentation)"
        )
        await worker.with_database(worker.checkpoint)
        await worker.close()

        worker = RuleWorker(settings, rules=load_rules(CATALOG))  # restarted: the open alert's rule comes back
        await worker.with_database(worker.load_fleet)
        assert "dtc.P0135" in {r.id for r in worker.rules}
        for i in range(1, 4):  # the library clears a code after 3 reports without it
            await worker.with_database(lambda c, i=i: worker.apply(c, report(vid, T0 + i * 60_000, []), arrived_ms=T0))
        assert [(r[0], r[2]) for r in await alert_rows(settings)] == [
            ("dtc.P0135", "cleared"),
            ("dtc.P0217", "cleared"),
        ]
        await worker.close()

    asyncio.run(scenario())


def test_the_structure_names_system_letter_origin_and_group() -> None:
    assert dtc.structure("P0456") == "generic powertrain code, auxiliary emission controls"
    assert dtc.structure("P1234") == "manufacturer-specific powertrain code"
    assert dtc.structure("B1001") == "manufacturer-specific body code"
    assert dtc.structure("U0420") == "generic network code"
    assert (dtc.describe("P0507").in_table, dtc.describe("P0217").in_table) == (False, True)
    assert dtc.describe("P0300").system == "engine"
    assert dtc.describe("P0442").system == "emissions"
    assert dtc.describe("U1234").system == "network"


def lamp(vehicle_id: int, start: int, seconds: int, codes: float) -> RuleBatch:
    """The check-engine lamp lit and the code count, every 10 s for `seconds`."""
    ts = np.arange(start, start + seconds * 1000, 10_000, dtype=np.int64)
    mil, count = CATALOG["Vehicle.OBD.Status.IsMILOn"].id, CATALOG["Vehicle.Diagnostics.DTCCount"].id
    n = len(ts)
    return RuleBatch(
        np.full(2 * n, vehicle_id, np.int32),
        np.concatenate([ts, ts]),
        np.concatenate([np.full(n, mil, np.int16), np.full(n, count, np.int16)]),
        np.concatenate([np.ones(n), np.full(n, codes)]),
    )


def test_a_lit_lamp_without_codes_is_an_alert_and_with_a_code_it_is_the_code_s(settings: Settings) -> None:
    async def scenario() -> None:
        async with await connect(settings, autocommit=True) as conn:
            quiet = await vehicle(conn)
            row = await records.create_vehicle(
                conn, vin="WAUZZZ8V0KA000801", make="Aurora", model="Compact 1.5", model_year=2024,
                powertrain="combustion", owner_customer_id=None, dealer_id=None, vss_version="6.0", delivered_on=None,
            )  # fmt: skip
            coded = row.id
        worker = RuleWorker(settings, rules=load_rules(CATALOG))
        await worker.with_database(worker.load_fleet)
        await worker.with_database(lambda c: worker.apply(c, lamp(quiet, T0, 180, 0.0), arrived_ms=T0 + 180_000))
        await worker.with_database(lambda c: worker.apply(c, lamp(coded, T0, 180, 1.0), arrived_ms=T0 + 180_000))
        async with await connect(settings) as conn:
            cur = await conn.execute("SELECT vehicle_id, rule_id, state FROM alerts")
            assert [(r["vehicle_id"], r["rule_id"], r["state"]) for r in await cur.fetchall()] == [
                (quiet, "mil_without_codes", "open")
            ]
        await worker.close()

    asyncio.run(scenario())
