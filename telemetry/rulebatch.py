"""Committed samples on their way to the rule engine, as Arrow IPC streams.

Columns: vehicle_id int32, ts int64 (epoch ms), signal dictionary<int16, VSS path>, value float64.
Signals travel by path so that producer and consumer need not share catalog ids. A DTC list is
one row per code (value = `telemetry.dtc.encode(code)`); an empty list is one row with NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from telemetry import dtc
from telemetry.arrow_contract import ipc_stream
from telemetry.catalog import Catalog

SCHEMA = pa.schema(
    [
        ("vehicle_id", pa.int32()),
        ("ts", pa.int64()),
        ("signal", pa.dictionary(pa.int16(), pa.string())),
        ("value", pa.float64()),
    ]
)


@dataclass
class RuleBatch:
    vehicle_id: np.ndarray  # int32
    ts: np.ndarray  # int64
    signal: np.ndarray  # int16, the receiver's catalog ids
    value: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray) -> RuleBatch:
        return RuleBatch(self.vehicle_id[index], self.ts[index], self.signal[index], self.value[index])

    @classmethod
    def from_wide(cls, vehicle_id: np.ndarray, ts: np.ndarray, values: np.ndarray, signal_ids: np.ndarray) -> RuleBatch:
        """Wide rows (one column per signal, `signal_ids[j]` for column j, NaN where absent) as
        long rows."""
        row, col = np.nonzero(~np.isnan(values))
        return cls(
            vehicle_id[row].astype(np.int32),
            ts[row].astype(np.int64),
            np.asarray(signal_ids, dtype=np.int16)[col],
            values[row, col],
        )

    @classmethod
    def concat(cls, parts: list[RuleBatch]) -> RuleBatch:
        return cls(
            np.concatenate([p.vehicle_id for p in parts]).astype(np.int32),
            np.concatenate([p.ts for p in parts]).astype(np.int64),
            np.concatenate([p.signal for p in parts]).astype(np.int16),
            np.concatenate([p.value for p in parts]).astype(np.float64),
        )


def with_dtcs(batch: RuleBatch, rows: list[tuple[int, int, tuple[str, ...]]], catalog: Catalog) -> RuleBatch:
    """Append DTC lists as rows of the DTC signal."""
    if not rows:
        return batch
    sid = catalog["Vehicle.Diagnostics.DTCList"].id
    vid, ts, val = [], [], []
    for vehicle_id, t, codes in rows:
        for value in [dtc.encode(c) for c in codes] or [np.nan]:
            vid.append(vehicle_id)
            ts.append(t)
            val.append(value)
    extra = RuleBatch(np.asarray(vid), np.asarray(ts), np.full(len(ts), sid, dtype=np.int16), np.asarray(val))
    return RuleBatch.concat([batch, extra])


def encode(batch: RuleBatch, catalog: Catalog) -> bytes:
    paths = pa.array([s.path for s in catalog.signals], type=pa.string())
    table = pa.table(
        {
            "vehicle_id": pa.array(batch.vehicle_id, type=pa.int32()),
            "ts": pa.array(batch.ts, type=pa.int64()),
            "signal": pa.DictionaryArray.from_arrays(pa.array(batch.signal, type=pa.int16()), paths),
            "value": pa.array(batch.value, type=pa.float64()),
        },
        schema=SCHEMA,
    )
    return ipc_stream(table)


def decode(payload: bytes, catalog: Catalog) -> RuleBatch:
    """Rows whose signal this catalog does not know are dropped (a newer producer's signals)."""
    table = pa.ipc.open_stream(payload).read_all().combine_chunks()
    if table.num_rows == 0:
        return RuleBatch(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0))
    sig = table.column("signal").chunk(0)
    mapping = np.array(
        [catalog.by_path[p].id if p in catalog.by_path else -1 for p in sig.dictionary.to_pylist()], dtype=np.int16
    )
    ids = mapping[sig.indices.to_numpy(zero_copy_only=False)]
    known = ids >= 0
    return RuleBatch(
        table.column("vehicle_id").to_numpy()[known].astype(np.int32),
        table.column("ts").to_numpy()[known].astype(np.int64),
        ids[known],
        table.column("value").to_numpy(zero_copy_only=False)[known].astype(np.float64),
    )
