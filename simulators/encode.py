"""Spans as MQTT payloads: one JSON message per row, or Arrow batches for buffering vehicles.

Buffering vehicles collect their rows and send one Arrow IPC stream (`ts`, `path`, `value`) per
`buffer_s` of simulated time, plus a small JSON message with the DTC list at the batch's last
moment (an Arrow batch carries numbers only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from simulators import physics as ph
from simulators.fleet import Fleet, Span
from telemetry.arrow_contract import COLUMNS as ARROW_COLUMNS
from telemetry.arrow_contract import ipc_stream
from telemetry.topics import TELEMETRY, TELEMETRY_ARROW, vehicle_topic

DTC_PATH = "Vehicle.Diagnostics.DTCList"
_INTEGERS = {ph.C_ODO, ph.C_RPM, ph.C_EOP, ph.C_RANGE}
_BOOLEANS = {ph.C_CHARGING}
_ARROW_SCHEMA = pa.schema(
    [
        (ARROW_COLUMNS[0], pa.int64()),
        (ARROW_COLUMNS[1], pa.dictionary(pa.int8(), pa.string())),
        (ARROW_COLUMNS[2], pa.float64()),
    ]
)
_PATHS = pa.array(ph.COLUMNS, type=pa.string())


def telemetry_json(vin: str, seq: int, ts_ms: int, signals: dict[str, object]) -> bytes:
    """One sample as the JSON telemetry message of the MQTT contract."""
    return orjson.dumps({"vin": vin, "seq": seq, "samples": [{"ts": ts_ms, "signals": signals}]})


@dataclass(frozen=True)
class Outgoing:
    ts_ms: int  # when the vehicle sends it (simulated clock)
    topic: str
    payload: bytes


class PayloadEncoder:
    def __init__(self, fleet: Fleet, prefix: str, buffer_s: float = 60.0) -> None:
        self.fleet = fleet
        self.json_topics = [vehicle_topic(prefix, vin, TELEMETRY) for vin in fleet.vins]
        self.arrow_topics = [vehicle_topic(prefix, vin, TELEMETRY_ARROW) for vin in fleet.vins]
        self.seq = np.zeros(fleet.size, dtype=np.int64)
        self.buffer_ms = int(buffer_s * 1000)
        self._pending: dict[int, list[tuple[int, np.ndarray, int]]] = {}  # vehicle -> rows (ts, values, dtc)

    def signals(self, values: np.ndarray, dtc_mask: int) -> dict[str, object]:
        out: dict[str, object] = {}
        for col in np.flatnonzero(~np.isnan(values)):
            v = float(values[col])
            out[ph.COLUMNS[col]] = int(v) if col in _INTEGERS else bool(v) if col in _BOOLEANS else v
        out[DTC_PATH] = ph.dtc_codes(dtc_mask)
        return out

    def json(self, vehicle: int, ts_ms: int, signals: dict[str, object]) -> bytes:
        self.seq[vehicle] += 1
        return telemetry_json(self.fleet.vins[vehicle], int(self.seq[vehicle]), ts_ms, signals)

    def encode(self, span: Span) -> list[Outgoing]:
        """The span's messages in the order the vehicles send them."""
        out: list[Outgoing] = []
        buffering = self.fleet.buffering
        for row in np.argsort(span.ts_ms, kind="stable"):
            i, ts = int(span.vehicle[row]), int(span.ts_ms[row])
            if buffering[i]:
                rows = self._pending.setdefault(i, [])
                rows.append((ts, span.values[row], int(span.dtc[row])))
                if ts - rows[0][0] >= self.buffer_ms:
                    out += self._flush(i)
                continue
            out.append(
                Outgoing(ts, self.json_topics[i], self.json(i, ts, self.signals(span.values[row], int(span.dtc[row]))))
            )
        return out

    def flush_all(self) -> list[Outgoing]:
        out: list[Outgoing] = []
        for i in list(self._pending):
            out += self._flush(i)
        return out

    def _flush(self, vehicle: int) -> list[Outgoing]:
        rows = self._pending.pop(vehicle, [])
        if not rows:
            return []
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        values = np.stack([r[1] for r in rows])
        row, col = np.nonzero(~np.isnan(values))
        table = pa.table(
            [
                pa.array(ts[row]),
                pa.DictionaryArray.from_arrays(pa.array(col.astype(np.int8)), _PATHS),
                pa.array(values[row, col]),
            ],
            schema=_ARROW_SCHEMA,
        )
        last = int(ts[-1])
        dtc = self.json(vehicle, last, {DTC_PATH: ph.dtc_codes(rows[-1][2])})
        return [
            Outgoing(last, self.arrow_topics[vehicle], ipc_stream(table)),
            Outgoing(last, self.json_topics[vehicle], dtc),
        ]
