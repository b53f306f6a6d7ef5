"""The compact batch format for vehicles that buffer: an Arrow IPC stream on
`vehicles/{vin}/telemetry/arrow` with columns `ts`, `path`, `value`.

- `ts`: int64 epoch milliseconds, or an Arrow timestamp (any unit, with or without zone: UTC);
- `path`: string (plain or dictionary-encoded), a VSS path as in the JSON format;
- `value`: a number (float or integer type); booleans as 0/1 or an Arrow bool column.
The batch becomes the same envelope as a JSON message, so every value meets the same checks.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ingest.codec import Envelope, Limits, check_message
from telemetry.arrow_contract import COLUMNS
from telemetry.catalog import Catalog
from telemetry.reasons import Reason, Rejection


def parse_arrow_envelope(topic_vin: str, payload: bytes, limits: Limits, catalog: Catalog) -> Envelope | Rejection:
    if rejected := check_message(topic_vin, payload, limits):
        return rejected
    try:
        table = pa.ipc.open_stream(payload).read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        return Rejection(Reason.MALFORMED_ARROW, f"not an Arrow IPC stream: {exc}")
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        return Rejection(
            Reason.INVALID_PAYLOAD,
            f"Arrow batch needs columns ts, path, value; missing {', '.join(missing)}",
        )
    try:
        ts = _epoch_ms(table.column("ts"))
        paths = table.column("path").cast(pa.string()).to_pylist()
        values = table.column("value").to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return Rejection(Reason.INVALID_PAYLOAD, f"Arrow batch has unusable column types: {exc}")
    if table.num_rows == 0:
        return Rejection(Reason.INVALID_PAYLOAD, "Arrow batch has no rows")
    booleans = {s.path for s in catalog.signals if s.kind == "boolean"}
    by_ts: dict[object, dict[str, object]] = {}
    for t, path, value in zip(ts, paths, values, strict=True):
        if path in booleans and value in (0, 1) and not isinstance(value, bool):
            value = bool(value)
        by_ts.setdefault(t, {})[path] = value
    return Envelope(topic_vin, None, None, list(by_ts.items()))


def _epoch_ms(column: pa.ChunkedArray) -> list[object]:
    """Epoch ms as Python ints (None stays None and is rejected as an invalid timestamp)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column.cast(pa.timestamp(column.type.unit)), pa.timestamp("ms")).cast(pa.int64())
    elif not pa.types.is_integer(column.type):
        raise pa.ArrowInvalid(f"'ts' must be int64 epoch milliseconds or a timestamp, got {column.type}")
    millis: list[object] = column.cast(pa.int64()).to_pylist()
    return millis
