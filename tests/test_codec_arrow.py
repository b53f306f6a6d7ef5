"""An Arrow batch's fast path (arrays straight to the range checks) stores and rejects exactly
what the moments' path (the JSON message's form) does, whatever the batch holds."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.codec import BatchBuilder, Envelope, Limits
from ingest.codec_arrow import parse_arrow_envelope
from telemetry.arrow_contract import ipc_stream
from telemetry.catalog import default_catalog

VIN = "1HGCM82633A004352"
NOW = 1_763_800_000_000
LIMITS = Limits(max_payload_bytes=1_000_000, max_future_skew_ms=300_000, retention_ms=365 * 86_400_000)
PATHS = [
    "Vehicle.Speed",  # number, 0..400 km/h
    "Vehicle.Powertrain.CombustionEngine.IsRunning",  # boolean
    "Vehicle.OBD.Status.IsMILOn",  # boolean, by its VSS 5.0 name (an overlay)
    "Vehicle.Exterior.AirTemperature",
    "Vehicle.Diagnostics.DTCList",  # a list of codes: never a number
    "Vehicle.No.Such.Signal",
]
TIMES = [NOW - 1000, NOW, NOW + 1000, NOW + 3_600_000, NOW - 400 * 86_400_000]  # the last two: out of the window


def decided(env: Envelope, major: int) -> tuple[list[tuple[int, int, float]], list[tuple[str, str]]]:
    builder = BatchBuilder(default_catalog(), LIMITS, NOW)
    builder.add(0, env, default_major=major)
    batch = builder.finish()
    stored = sorted(zip(batch.ts.tolist(), batch.signal.tolist(), batch.value.tolist(), strict=True))
    rejected = sorted((r.reason.value, r.detail) for r in builder.rejections.get(0, []))
    return stored, rejected


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(TIMES), st.sampled_from(PATHS), st.sampled_from([0, 1, 2, 55, 500, -80])),
        min_size=1,
        max_size=12,
    ),
    value_type=st.sampled_from([pa.float64(), pa.int64(), pa.int32(), pa.bool_()]),
    major=st.sampled_from([5, 6]),
)
def test_the_columnar_path_decides_as_the_moments_path(rows, value_type, major) -> None:
    values = [bool(v) for _, _, v in rows] if value_type == pa.bool_() else [v for _, _, v in rows]
    table = pa.table(
        {
            "ts": pa.array([t for t, _, _ in rows], pa.int64()),
            "path": pa.array([p for _, p, _ in rows]).dictionary_encode(),
            "value": pa.array(values, value_type),
        }
    )
    env = parse_arrow_envelope(VIN, ipc_stream(table), LIMITS, default_catalog())
    assert isinstance(env, Envelope)
    assert env.columns is not None  # no nulls, a number or bool column: the fast path is offered
    as_moments = dataclasses.replace(env, samples=env.columns.moments(), columns=None)
    assert decided(env, major) == decided(as_moments, major)


def test_a_plain_batch_takes_the_columnar_path() -> None:
    table = pa.table(
        {
            "ts": pa.array([NOW, NOW, NOW + 1000], pa.int64()),
            "path": pa.array(["Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.IsRunning", "Vehicle.Speed"]),
            "value": pa.array([52.5, 1.0, 53.0]),
        }
    )
    env = parse_arrow_envelope(VIN, ipc_stream(table), LIMITS, default_catalog())
    assert isinstance(env, Envelope)
    assert env.columns is not None
    assert env.columns.plain(default_catalog().resolver(6), NOW - 1, NOW + 2000) is not None
    stored, rejected = decided(env, 6)
    assert [v for _, _, v in stored] == [52.5, 1.0, 53.0]
    assert rejected == []


def test_nulls_take_the_moments_path_and_are_rejected_one_by_one() -> None:
    table = pa.table(
        {
            "ts": pa.array([NOW, None], pa.int64()),
            "path": pa.array(["Vehicle.Speed", "Vehicle.Speed"]),
            "value": pa.array([None, 10.0]),
        }
    )
    env = parse_arrow_envelope(VIN, ipc_stream(table), LIMITS, default_catalog())
    assert isinstance(env, Envelope)
    assert env.columns is None
    stored, rejected = decided(env, 6)
    assert stored == []
    assert [reason for reason, _ in rejected] == ["invalid_timestamp", "wrong_type"]
