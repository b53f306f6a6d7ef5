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
