"""The Arrow telemetry contract (`vehicles/{vin}/telemetry/arrow`): its columns, and timestamps read
the same way by whoever writes or reads such a batch (ingest, the simulators, the backtest)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = ("ts", "path", "value")


def timestamps_ms(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow timestamp column (any unit; zone-less read as UTC) as int64 epoch milliseconds."""
    millis: np.ndarray = pc.cast(column, pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    return millis


def ipc_stream(table: pa.Table | pa.RecordBatch) -> bytes:
    """A table (or one batch) as the bytes of an Arrow IPC stream: the payload of every Arrow
    message, on the vehicles' topic and on the rule workers' internal one."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    payload: bytes = sink.getvalue().to_pybytes()
    return payload
