"""Recording a scenario's telemetry to Parquet, and replaying it over MQTT at any speed.

Files use the layout of `telemetry export` (`vin`, `ts`, one column per VSS path, units in the
field metadata), one file per simulated day (and per publishing process), so a recording can
also be fed to `telemetry rules backtest --parquet`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulators import physics as ph
from simulators.bulk_publisher import BulkPublisher
from simulators.encode import DTC_PATH, telemetry_json
from simulators.fleet import Fleet, Span
from telemetry.arrow_contract import timestamps_ms
from telemetry.catalog import default_catalog
from telemetry.errors import InvalidRequestError
from telemetry.topics import TELEMETRY, vehicle_topic


def recording_schema() -> pa.Schema:
    catalog = default_catalog()
    fields = [pa.field("vin", pa.string()), pa.field("ts", pa.timestamp("ms", tz="UTC"))]
    fields += [pa.field(p, pa.float64(), metadata={"unit": catalog[p].unit or ""}) for p in ph.COLUMNS]
    fields.append(pa.field(DTC_PATH, pa.list_(pa.string())))
    return pa.schema(fields)


class ParquetRecorder:
    """Writes spans to `samples-YYYY-MM-DD{suffix}.parquet` in `folder`, a file per simulated day."""

    def __init__(self, folder: Path, fleet: Fleet, suffix: str = "") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.fleet, self.suffix = folder, fleet, suffix
        self.schema = recording_schema()
        self._day: str | None = None
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, span: Span) -> None:
        if not len(span):
            return
        day = datetime.fromtimestamp(int(span.ts_ms[0]) / 1000, UTC).date().isoformat()
        if day != self._day:
            self.close()
            self._day = day
            self._writer = pq.ParquetWriter(
                self.folder / f"samples-{day}{self.suffix}.parquet", self.schema, compression="zstd"
            )
        assert self._writer is not None
        order = np.lexsort((span.ts_ms, span.vehicle))
        vins = np.array(self.fleet.vins, dtype=object)[span.vehicle[order]]
        columns: list[pa.Array] = [
            pa.array(vins, pa.string()),
            pa.array(span.ts_ms[order], pa.timestamp("ms", tz="UTC")),
        ]
        columns += [pa.array(span.values[order, j], pa.float64(), from_pandas=True) for j in range(len(ph.COLUMNS))]
        columns.append(pa.array([ph.dtc_codes(int(m)) for m in span.dtc[order]], pa.list_(pa.string())))
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        self.rows += len(span)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def recorded_files(source: Path) -> list[Path]:
    files = sorted(source.glob("*.parquet")) if source.is_dir() else [source]
    if not files:
        raise InvalidRequestError(f"{source}: no Parquet files")
    return files


def read_days(files: list[Path]) -> Iterator[pa.Table]:
    """Recorded rows a day at a time (the files of one day together), in time order."""
    by_day: dict[str, list[Path]] = {}
    for f in files:
        by_day.setdefault(f.name.removeprefix("samples-")[:10], []).append(f)
    for day in sorted(by_day):
        try:
            table = pa.concat_tables([pq.read_table(f) for f in by_day[day]])
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidRequestError(f"{day}: unreadable recording ({exc})") from exc
        if not {"vin", "ts"} <= set(table.column_names):
            raise InvalidRequestError(f"{day}: a recording needs 'vin' and 'ts' columns")
        yield table.sort_by("ts")


def replay(
    files: list[Path],
    mqtt_url: str,
    *,
    prefix: str = "",
    speed: float = 1.0,
    keep_timestamps: bool = False,
    on_progress: Callable[[int, float], None] | None = None,
) -> int:
    """Publish recorded rows as JSON messages, paced by their timestamps divided by `speed`.
    Timestamps are shifted so that the replay stays in the past and ends at about the time it
    finishes (the server refuses the future), unless `keep_timestamps`."""
    stamps = np.concatenate([timestamps_ms(pq.read_table(f, columns=["ts"]).column("ts")) for f in files])
    if not len(stamps):
        return 0
    first_ms, last_ms = int(stamps.min()), int(stamps.max())
    now_ms = time.time_ns() // 1_000_000
    shift = 0 if keep_timestamps else now_ms - first_ms - int((last_ms - first_ms) * (speed - 1) / speed)
    out = BulkPublisher(mqtt_url, f"sim-replay-{time.time_ns() % 10**9}")
    seq: dict[str, int] = {}
    sent = 0
    wall0 = time.monotonic()
    try:
        for table in read_days(files):
            vins = table.column("vin").to_pylist()
            ts = timestamps_ms(table.column("ts"))
            numeric = [n for n in table.column_names if n not in ("vin", "ts", DTC_PATH)]
            values = np.column_stack(
                [table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in numeric]
            )
            dtcs = table.column(DTC_PATH).to_pylist() if DTC_PATH in table.column_names else None
            for r, vin in enumerate(vins):
                wait = wall0 + (ts[r] - first_ms) / 1000 / speed - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                signals: dict[str, object] = {
                    numeric[j]: float(values[r, j]) for j in np.flatnonzero(~np.isnan(values[r]))
                }
                if dtcs is not None and dtcs[r] is not None:
                    signals[DTC_PATH] = dtcs[r]
                seq[vin] = seq.get(vin, 0) + 1
                out.publish(
                    vehicle_topic(prefix, vin, TELEMETRY), telemetry_json(vin, seq[vin], int(ts[r]) + shift, signals)
                )
                sent += 1
                if on_progress is not None and sent % 2000 == 0:
                    on_progress(sent, time.monotonic() - wall0)
    finally:
        out.drain()
        out.close()
    return sent
