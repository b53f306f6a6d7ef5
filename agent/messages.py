"""Buffered rows as the MQTT contract's payloads (docs/vehicles.md): JSON for live data and DTC
lists, Arrow IPC streams for backlogs (three columns, a fifth of JSON's size per value)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import pyarrow as pa

from agent.buffer import Stored
from telemetry.arrow_contract import ipc_stream

ARROW_SCHEMA = pa.schema(
    [("ts", pa.int64()), ("path", pa.dictionary(pa.int16(), pa.string())), ("value", pa.float64())]
)


@dataclass(frozen=True)
class Report:
    """What a JSON message tells besides samples."""

    seq: int
    software_version: str | None
    dropped_samples: int | None


def json_payload(vin: str, rows: Sequence[Stored], report: Report, booleans: frozenset[str]) -> bytes:
    """One JSON message: the rows grouped by moment, in the order they were taken; the buffer's 0/1
    of a boolean signal (`booleans`) travels as JSON false/true, as the contract has it."""
    moments: dict[int, dict[str, object]] = {}
    for row in rows:
        s = row.sample
        value: object = s.value
        if s.codes is not None:
            value = list(s.codes)
        elif s.path in booleans and s.value is not None:
            value = bool(s.value)
        moments.setdefault(s.ts, {})[s.path] = value
    doc: dict[str, object] = {
        "vin": vin,
        "seq": report.seq,
        "vss": "6.0",
        "samples": [{"ts": ts, "signals": signals} for ts, signals in moments.items()],
    }
    if report.software_version is not None:
        doc["software_version"] = report.software_version
    if report.dropped_samples is not None:
        doc["dropped_samples"] = report.dropped_samples
    return orjson.dumps(doc)


def arrow_payload(rows: Sequence[Stored]) -> bytes:
    """One Arrow IPC stream of numeric rows (paths dictionary-encoded)."""
    paths = [r.sample.path for r in rows]
    dictionary = sorted(set(paths))
    index = {p: i for i, p in enumerate(dictionary)}
    table = pa.table(
        {
            "ts": pa.array([r.sample.ts for r in rows], pa.int64()),
            "path": pa.DictionaryArray.from_arrays(
                pa.array([index[p] for p in paths], pa.int16()), pa.array(dictionary, pa.string())
            ),
            "value": pa.array([r.sample.value for r in rows], pa.float64()),
        },
        schema=ARROW_SCHEMA,
    )
    return ipc_stream(table)
