"""`telemetry rules backtest`: the live kernels over stored history, printing what would fire."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np

from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import SampleWriter
from telemetry.supervisor import child_env
from tests.fix_services import add_vehicle

CATALOG = default_catalog()
COOLANT = CATALOG["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"].id
T0 = int(datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp() * 1000)
HOT, FINE = "1HGCM82633A004352", "WVWZZZ1JZXW000001"


def seed(settings: Settings) -> None:
    async def go() -> None:
        writer = SampleWriter(CATALOG)
        async with await connect(settings) as conn:
            ids = {}
            for vin in (HOT, FINE):
                ids[vin] = await add_vehicle(conn, vin)
            seconds = np.arange(0, 200)
            hot = np.where(seconds < 40, 118.0, 90.0)  # 40 s over 110 °C, then back to normal
            vid = np.concatenate([np.full(200, ids[HOT]), np.full(200, ids[FINE])])
            ts = np.concatenate([T0 + seconds * 1000] * 2)
            value = np.concatenate([hot, np.full(200, 91.0)])
            await PartitionManager().ensure(conn, {day_of(T0)})
            async with conn.transaction():
                await writer.write(conn, writer.pivot(vid, ts, np.full(400, COOLANT, np.int16), value))

    asyncio.run(go())


def test_backtest_prints_what_the_rules_would_have_raised(settings: Settings) -> None:
    seed(settings)
    result = subprocess.run(
        [sys.executable, "-m", "telemetry.cli", "rules", "backtest", "--from", "2026-11-20", "--to", "2026-11-21"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("2026-11-20T08:00:30.000Z  FIRES  coolant_overtemp")
    assert f"{HOT}  since 2026-11-20T08:00:00.000Z  critical: Coolant reached 118 °C" in lines[0]
    assert lines[1].startswith("2026-11-20T08:01:40.000Z  clears coolant_overtemp")  # 60 s below 100 °C
    assert lines[-1].startswith("400 samples, ")
    assert lines[-1].endswith(" rules: coolant_overtemp fired 1x")
    assert FINE not in result.stdout
