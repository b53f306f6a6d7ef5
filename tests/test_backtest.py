"""`telemetry rules backtest`: the live kernels over stored history, printing what would fire."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest

from server.supervisor import child_env
from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import SampleWriter
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
        [sys.executable, "-m", "server.cli", "rules", "backtest", "--from", "2026-11-20", "--to", "2026-11-21"],
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


def test_fit_residual_recovers_the_model_and_bad_input_is_one_clear_line(settings: Settings) -> None:
    load = CATALOG["Vehicle.Powertrain.CombustionEngine.EngineLoad"]

    async def go() -> None:
        writer = SampleWriter(CATALOG)
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, HOT)
            seconds = np.arange(0, 300)
            loads = 20 + (seconds * 7) % 70
            coolant = 85.0 + 0.1 * loads + np.random.default_rng(1).normal(0, 0.2, 300)
            ts = np.concatenate([T0 + seconds * 1000] * 2)
            signal = np.concatenate([np.full(300, COOLANT), np.full(300, load.id)]).astype(np.int16)
            await PartitionManager().ensure(conn, {day_of(T0)})
            async with conn.transaction():
                await writer.write(
                    conn, writer.pivot(np.full(600, vid), ts, signal, np.concatenate([coolant, loads * 1.0]))
                )

    asyncio.run(go())
    command = [
        sys.executable,
        "-m",
        "server.cli",
        "rules",
        "fit-residual",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-21",
    ]
    path = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
    fitted = subprocess.run(
        [*command, "--signal", path, "--input", load.path],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last = fitted.stdout.strip().splitlines()[-1]
    assert last.startswith('coefficients = { "Compact 1.5" = [')
    fits = [[float(x) for x in group.split(", ")] for group in re.findall(r"\[([^\]]+)\]", last)]
    assert len(fits) == 2  # the model, and the default over all models
    for intercept, per_load in fits:
        assert intercept == pytest.approx(85.0, abs=0.3)
        assert per_load == pytest.approx(0.1, abs=0.01)
    bad = subprocess.run(
        [*command, "--signal", path, "--input", "Vehicle.Speed"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: no stored samples hold the target and every input in that window"


def test_backtest_reads_exported_parquet_files_as_it_reads_the_table(settings: Settings, tmp_path) -> None:
    seed(settings)
    env = child_env(settings)
    cli = [sys.executable, "-m", "server.cli"]
    subprocess.run(
        [*cli, "export", "--since", "2026-11-20", "--until", "2026-11-20", "--out", str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    window = ["--from", "2026-11-20", "--to", "2026-11-21"]
    from_table = subprocess.run(
        [*cli, "rules", "backtest", *window], env=env, capture_output=True, text=True, check=True
    )
    from_files = subprocess.run(
        [*cli, "rules", "backtest", *window, "--parquet", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert from_files.stdout == from_table.stdout
    assert "coolant_overtemp fired 1x" in from_files.stdout
    (tmp_path / "junk.parquet").write_text("not parquet")
    junk = subprocess.run(
        [*cli, "rules", "backtest", *window, "--parquet", str(tmp_path / "junk.parquet")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert junk.returncode == 2
    assert junk.stderr.startswith(f"error: {tmp_path / 'junk.parquet'}: not a readable Parquet file")
