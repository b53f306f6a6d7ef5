"""Edited rule files take effect without a restart; unchanged rules keep their state."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from rules.worker import RuleWorker
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from telemetry.settings import Settings
from telemetry.storage.db import connect
from tests.fix_services import add_vehicle

CATALOG = default_catalog()
COOLANT = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
OIL = "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature"
T0 = 1_763_800_000_000
RULE = """
[[rule]]
id = "{id}"
kind = "threshold"
signal = "{signal}"
above = {above}
for = "30s"
"""


def hot(vehicle_id: int, first_s: int, last_s: int, path: str, value: float) -> RuleBatch:
    seconds = np.arange(first_s, last_s + 1)
    return RuleBatch(
        np.full(len(seconds), vehicle_id, np.int32),
        T0 + seconds * 1000,
        np.full(len(seconds), CATALOG[path].id, np.int16),
        np.full(len(seconds), value),
    )


def write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, (stamp, stamp))  # distinct modification times, however fast the test runs


def test_rules_reload_in_place(settings: Settings, tmp_path: Path) -> None:
    rules_file = tmp_path / "engine.toml"
    write(rules_file, RULE.format(id="coolant", signal=COOLANT, above=110.0), 1_000)
    settings = settings.model_copy(update={"rules_dir": tmp_path})

    async def scenario() -> list[str]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "1HGCM82633A004352")
            worker = RuleWorker(settings)
            await worker.apply(conn, hot(vid, 0, 20, COOLANT, 118.0))

            write(
                rules_file, "[[rule]]\nid = 'broken'\nkind = 'threshold'\nsignal = 'Vehicle.Warp'\nabove = 1\n", 2_000
            )
            assert not worker.reload_if_changed()  # refused: the running rules stay
            assert [r.id for r in worker.rules] == ["coolant"]

            both = RULE.format(id="coolant", signal=COOLANT, above=110.0) + RULE.format(
                id="oil", signal=OIL, above=140.0
            )
            write(rules_file, both, 3_000)
            assert worker.reload_if_changed()
            await worker.apply(conn, hot(vid, 21, 35, COOLANT, 118.0))  # the coolant duration carried over
            await worker.apply(conn, hot(vid, 0, 40, OIL, 150.0))  # the new rule works at once
            cur = await conn.execute("SELECT rule_id FROM alerts ORDER BY rule_id")
            return [r["rule_id"] for r in await cur.fetchall()]

    assert asyncio.run(scenario()) == ["coolant", "oil"]
