"""Running rules over history: the same engine and kernels as live, nothing written.

This is how a new or changed rule is tried before it is enabled: which alerts would it have
raised, when, and how often. History comes from the samples table or from Parquet files in the
layout `telemetry export` writes (vin, ts, one column per VSS path).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from rules.engine import RuleEngine
from rules.model import DTC_SIGNAL, Rule
from rules.outcome import Outcome, VehicleInfo
from telemetry.arrow_contract import timestamps_ms
from telemetry.catalog import Catalog, Signal
from telemetry.errors import InvalidRequestError
from telemetry.rulebatch import RuleBatch, with_dtcs
from telemetry.storage.db import SyncConn
from telemetry.storage.fleet import service_baselines_sync
from telemetry.timeutil import to_epoch_ms

CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class BacktestResult:
    outcomes: list[Outcome]
    vin_of: dict[int, str]
    samples: int
    unknown_vins: int = 0


def signals_of(rules: list[Rule], catalog: Catalog) -> list[Signal]:
    """Every signal the rules read: their own, gates, residual inputs and context."""
    found: dict[int, Signal] = {}
    for rule in rules:
        for c in rule.conditions:
            wanted = [c.signal] if c.signal is not None else []
            wanted += [c.gate.signal] if c.gate else []
            wanted += list(c.residual.inputs) if c.residual else []
            found |= {s.id: s for s in wanted}
        found |= {s.id: s for _, s in rule.context}
    if any(c.signal is None for r in rules for c in r.conditions) and not found:
        found = {s.id: s for s in catalog.signals if s.kind == "number"}  # silence: any signal counts
    return sorted(found.values(), key=lambda s: s.id)


def _batch(
    vid: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    signals: list[Signal],
    dtcs: list[tuple[int, int, tuple[str, ...]]],
    catalog: Catalog,
) -> RuleBatch:
    """Wide rows (one column per signal, NaN where absent) as the long rows the engine takes."""
    batch = RuleBatch.from_wide(vid, ts, values, np.array([s.id for s in signals], dtype=np.int16))
    return with_dtcs(batch, dtcs, catalog)


def history(
    conn: SyncConn, catalog: Catalog, signals: list[Signal], start: datetime, end: datetime, vin: str | None
) -> Iterator[RuleBatch]:
    """Stored samples of the given signals in time order, chunk by chunk."""
    numeric = [s for s in signals if s.kind != "string_list"]
    dtc = catalog[DTC_SIGNAL] in signals
    cols: list[sql.Composable] = [sql.Identifier("s", c.column) for c in numeric]
    cols.append(sql.SQL("s.{}").format(sql.Identifier(catalog[DTC_SIGNAL].column)) if dtc else sql.SQL("NULL"))
    query = sql.SQL(
        "SELECT s.vehicle_id, (extract(epoch FROM s.ts) * 1000)::bigint AS ts_ms, {cols} FROM samples s"
        " JOIN vehicles v ON v.id = s.vehicle_id WHERE s.ts >= %s AND s.ts < %s"
        " AND (%s::text IS NULL OR v.vin = %s) ORDER BY s.ts, s.vehicle_id"
    ).format(cols=sql.SQL(", ").join(cols))
    with conn.cursor(name="backtest", row_factory=psycopg.rows.tuple_row) as cur:
        cur.execute(query, (start, end, vin, vin))
        while rows := cur.fetchmany(CHUNK_ROWS):
            table = np.array([r[:-1] for r in rows], dtype=np.float64)  # NULL -> nan
            dtcs = [(int(r[0]), int(r[1]), tuple(r[-1])) for r in rows if r[-1] is not None]
            yield _batch(table[:, 0], table[:, 1], table[:, 2:], numeric, dtcs, catalog)


def parquet_history(
    paths: Iterable[Path],
    catalog: Catalog,
    signals: list[Signal],
    vehicle_of: dict[str, int],
    start: datetime,
    end: datetime,
    vin: str | None,
) -> Iterator[tuple[RuleBatch, int]]:
    """Exported samples, file by file in name order (export files are one day each), with the
    number of rows whose VIN is not registered (they are skipped)."""
    numeric = [s for s in signals if s.kind != "string_list"]
    dtc_path = DTC_SIGNAL if catalog[DTC_SIGNAL] in signals else None
    lo, hi = to_epoch_ms(start), to_epoch_ms(end)
    for path in sorted(paths):
        try:
            file = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidRequestError(f"{path}: not a readable Parquet file ({exc})") from exc
        names = set(file.schema_arrow.names)
        if not {"vin", "ts"} <= names:
            raise InvalidRequestError(f"{path}: needs 'vin' and 'ts' columns (the layout of `telemetry export`)")
        present = [s for s in numeric if s.path in names]
        wanted = ["vin", "ts", *(s.path for s in present), *([dtc_path] if dtc_path in names else [])]
        for chunk in file.iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
            ts = timestamps_ms(chunk.column("ts"))
            vins = chunk.column("vin").to_pylist()
            vid = np.array([vehicle_of.get(v, -1) for v in vins], dtype=np.int64)
            keep = (vid >= 0) & (ts >= lo) & (ts < hi)
            if vin is not None:
                keep &= np.array([v == vin for v in vins])
            unknown = int(np.count_nonzero(vid < 0))
            values = np.column_stack(
                [chunk.column(s.path).to_numpy(zero_copy_only=False).astype(np.float64) for s in present]
                or [np.full(len(ts), np.nan)]
            )
            dtcs = []
            if dtc_path in names:
                lists = chunk.column(dtc_path).to_pylist()
                dtcs = [
                    (int(vid[i]), int(ts[i]), tuple(lists[i])) for i in np.flatnonzero(keep) if lists[i] is not None
                ]
            batch = _batch(vid[keep], ts[keep], values[keep], present or numeric[:1], dtcs, catalog)
            yield batch, unknown


def backtest(
    conn: SyncConn,
    catalog: Catalog,
    rules: list[Rule],
    *,
    start: datetime,
    end: datetime,
    vin: str | None = None,
    parquet: list[Path] | None = None,
) -> BacktestResult:
    """Vehicles, their scopes and service history come from the database in either case. The
    clock-driven rules (silence, plans by date, escalation) tick at every chunk and at `end`."""
    engine = RuleEngine(rules)
    vin_of: dict[int, str] = {}
    for r in conn.execute("SELECT id, vin, powertrain, make, model FROM vehicles").fetchall():
        engine.register(VehicleInfo(r["id"], r["powertrain"], r["make"], r["model"]))
        vin_of[r["id"]] = r["vin"]
    for vid, (ts, km) in service_baselines_sync(conn)[0].items():
        engine.set_service(vid, ts, km)
    signals = signals_of(rules, catalog)
    if parquet is not None:
        vehicle_of = {v: k for k, v in vin_of.items()}
        chunks = parquet_history(parquet, catalog, signals, vehicle_of, start, end, vin)
    else:
        chunks = ((batch, 0) for batch in history(conn, catalog, signals, start, end, vin))
    outcomes: list[Outcome] = []
    samples = unknown = 0
    for batch, skipped in chunks:
        samples += len(batch)
        unknown += skipped
        outcomes += engine.evaluate(batch)
        if len(batch):
            outcomes += engine.tick(int(batch.ts.max()))
    outcomes += engine.tick(to_epoch_ms(end))
    return BacktestResult(outcomes, vin_of, samples, unknown)
