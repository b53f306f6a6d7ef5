"""The compact batch format for vehicles that buffer: an Arrow IPC stream on
`vehicles/{vin}/telemetry/arrow` with columns `ts`, `path`, `value`.

- `ts`: int64 epoch milliseconds, or an Arrow timestamp (any unit, with or without zone: UTC);
- `path`: string (plain or dictionary-encoded), a VSS path as in the JSON format;
- `value`: a number (float or integer type); booleans as 0/1 or an Arrow bool column.
The batch becomes the same envelope as a JSON message, so every value meets the same checks.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.codec import Envelope, Limits, check_message
from ingest.columns import Columns
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
        paths = table.column("path").cast(pa.string())
        values = table.column("value")
        booleans = catalog.boolean_paths
        columns = _columns(ts, paths, values, booleans)
        if columns is None:
            samples = _moments(ts.to_pylist(), paths.to_pylist(), values.to_pylist(), booleans)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return Rejection(Reason.INVALID_PAYLOAD, f"Arrow batch has unusable column types: {exc}")
    if table.num_rows == 0:
        return Rejection(Reason.INVALID_PAYLOAD, "Arrow batch has no rows")
    if columns is not None:
        return Envelope(topic_vin, None, None, [], columns=columns)
    return Envelope(topic_vin, None, None, samples)


def _moments(
    ts: list[object], paths: list[object], values: list[object], booleans: frozenset[str]
) -> list[tuple[object, dict[str, object]]]:
    """The JSON message's form: values grouped by time in order of first appearance (a later
    value of a path at the same time replaces an earlier one); 0 and 1 of a boolean signal read
    as false and true."""
    by_ts: dict[object, dict[str, object]] = {}
    for t, path, value in zip(ts, paths, values, strict=True):
        if path in booleans and value in (0, 1) and not isinstance(value, bool):
            value = bool(value)
        by_ts.setdefault(t, {})[cast(str, path)] = value
    return list(by_ts.items())


def _columns(
    ts: pa.ChunkedArray, paths: pa.ChunkedArray, values: pa.ChunkedArray, booleans: frozenset[str]
) -> Columns | None:
    """The batch as arrays, when none of its columns has a null and its values are numbers or
    booleans (otherwise it takes the moments' path, which rejects each such value precisely)."""
    if ts.null_count or paths.null_count or values.null_count:
        return None
    if not (pa.types.is_boolean(values.type) or pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        return None
    encoded = paths.combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    return Columns(
        ts=ts.to_numpy(),
        path=encoded.indices.to_numpy().astype(np.int64),
        paths=distinct,
        value=pc.cast(values, pa.float64(), safe=False).to_numpy(),
        booleans=pa.types.is_boolean(values.type),
        zero_one=np.array([p in booleans for p in distinct], dtype=bool),
        moments=lambda: _moments(ts.to_pylist(), paths.to_pylist(), values.to_pylist(), booleans),
    )


def _epoch_ms(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch ms as int64 (a null stays null and is rejected as an invalid timestamp)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column.cast(pa.timestamp(column.type.unit)), pa.timestamp("ms")).cast(pa.int64())
    elif not pa.types.is_integer(column.type):
        raise pa.ArrowInvalid(f"'ts' must be int64 epoch milliseconds or a timestamp, got {column.type}")
    return column.cast(pa.int64())
