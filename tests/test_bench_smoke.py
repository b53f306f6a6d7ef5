"""Every benchmark, run as its command with `--smoke` (tiny sizes, seconds), so that a change that
breaks one fails here; the full runs stay manual. A new benchmark is picked up by itself."""

from __future__ import annotations

import json
import os
import pkgutil
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import bench

BENCH = Path(bench.__path__[0])
HELPERS = {"loadgen", "smoke", "ingest_measure"}  # modules of the benchmarks, not benchmarks themselves
BENCHMARKS = sorted(m.name for m in pkgutil.iter_modules([str(BENCH)]) if m.name not in HELPERS)


def test_every_benchmark_takes_smoke() -> None:
    assert BENCHMARKS == ["agent", "chart", "fleet_health", "ingest", "rules", "storage_layout"]
    for name in BENCHMARKS:
        assert "smoke.parse(" in (BENCH / f"{name}.py").read_text(), f"bench.{name} has no --smoke"


VARIANTS = {"ingest": [["--format", "arrow", "--samples-per-message", "250"], ["--find-sustainable"]]}
RUNS = [(name, []) for name in BENCHMARKS] + [(name, extra) for name, extras in VARIANTS.items() for extra in extras]


@pytest.mark.parametrize(("name", "extra"), RUNS)
def test_a_benchmark_runs_in_smoke_mode_and_prints_its_json_line(
    name: str, extra: list[str], database_url: str, mqtt_url: str
) -> None:
    schema = f"bench_smoke_{name}_{secrets.token_hex(3)}"
    env = {**os.environ, "TELEMETRY_DATABASE_URL": database_url, "TELEMETRY_MQTT_URL": mqtt_url, "BENCH_SCHEMA": schema}
    try:
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", "--smoke", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["smoke"] is True
    if name == "agent":
        assert figures["backlog_samples"] == 40 * 360, "the smoke backlog (6 minutes) was uploaded"
        assert figures["live_samples_uploaded"] > 0
    if name == "ingest" and extra == ["--find-sustainable"]:
        assert figures["bench"] == "ingest_sustainable"
        assert figures["sustainable_msg_per_s"] or figures["first_failing_msg_per_s"], "it tried a rate"
        return
    if name == "ingest":
        assert figures["stored_rows"] == figures["expected_rows"], "the smoke run stores every row exactly once"
        assert figures["format"] == (extra[1] if extra else "json")
        assert figures["ingest_cpu_s_per_million_samples"] > 0
