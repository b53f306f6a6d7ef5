"""Running rules over stored history: the same engine and kernels as live, nothing written.

This is how a new or changed rule is tried before it is enabled: which alerts would it have
raised, when, and how often.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from rules.definitions import ThresholdRule
from rules.engine import Outcome, RuleEngine, VehicleInfo
from telemetry.catalog import Catalog
from telemetry.rulebatch import RuleBatch

CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class BacktestResult:
    outcomes: list[Outcome]
    vin_of: dict[int, str]
    samples: int


def history(
    conn: psycopg.Connection, catalog: Catalog, signals: list[int], start: datetime, end: datetime, vin: str | None
) -> Iterator[RuleBatch]:
    """Stored samples of the given signals in time order, as long columns, chunk by chunk."""
    columns = [catalog.signals[s] for s in signals]
    query = sql.SQL(
        "SELECT s.vehicle_id, (extract(epoch FROM s.ts) * 1000)::bigint AS ts_ms, {cols} FROM samples s"
        " JOIN vehicles v ON v.id = s.vehicle_id WHERE s.ts >= %s AND s.ts < %s"
        " AND (%s::text IS NULL OR v.vin = %s) ORDER BY s.ts, s.vehicle_id"
    ).format(cols=sql.SQL(", ").join(sql.Identifier("s", c.column) for c in columns))
    with conn.cursor(name="backtest", row_factory=psycopg.rows.tuple_row) as cur:
        cur.execute(query, (start, end, vin, vin))
        while rows := cur.fetchmany(CHUNK_ROWS):
            table = np.array(rows, dtype=np.float64)  # NULL -> nan
            vid, ts, values = table[:, 0], table[:, 1], table[:, 2:]
            row, col = np.nonzero(~np.isnan(values))
            yield RuleBatch(
                vid[row].astype(np.int32),
                ts[row].astype(np.int64),
                np.array(signals, dtype=np.int16)[col],
                values[row, col],
            )


def backtest(
    conn: psycopg.Connection,
    catalog: Catalog,
    rules: list[ThresholdRule],
    *,
    start: datetime,
    end: datetime,
    vin: str | None = None,
) -> BacktestResult:
    engine = RuleEngine(rules)
    vin_of: dict[int, str] = {}
    for r in conn.execute("SELECT id, vin, powertrain, make, model FROM vehicles").fetchall():
        engine.register(VehicleInfo(r["id"], r["powertrain"], r["make"], r["model"]))
        vin_of[r["id"]] = r["vin"]
    signals = sorted({r.signal.id for r in rules})
    outcomes: list[Outcome] = []
    samples = 0
    for batch in history(conn, catalog, signals, start, end, vin):
        samples += len(batch)
        outcomes += engine.evaluate(batch)
    return BacktestResult(outcomes, vin_of, samples)
