"""The ingest pipeline without I/O: every input is stored or dead-lettered, never lost."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.codec import Envelope, Limits, parse_envelope
from ingest.pipeline import Prepared, Received, flag_seq_regressions, parse, prepare
from ingest.ratelimit import VehicleRateLimiter
from telemetry.arrow_contract import ipc_stream
from telemetry.catalog import default_catalog
from telemetry.storage.samples import SampleWriter
from telemetry.topics import partition_of

VIN = "1HGCM82633A004352"
NOW = 1_763_800_000_000
LIMITS = Limits(max_payload_bytes=8192, max_future_skew_ms=300_000, retention_ms=365 * 86_400_000)
CATALOG = default_catalog()
WRITER = SampleWriter(CATALOG)
VEHICLES = {VIN: (7, 6)}
PARTITION_OF_VIN = 10  # zlib.crc32(VIN) % 16, the same in every process and release


def run(messages: list[tuple[str, bytes]]) -> Prepared:
    parsed = parse([Received(t, p, NOW) for t, p in messages], prefix="", limits=LIMITS, catalog=CATALOG)
    return prepare(parsed, VEHICLES, catalog=CATALOG, limits=LIMITS, writer=WRITER, partitions=16, now_ms=NOW)


def test_a_message_on_a_foreign_topic_is_dead_lettered() -> None:
    prepared = run([("vehicles/1HGCM82633A004352/status", b"{}")])
    assert [(d.rejection.reason, d.rejection.detail) for d in prepared.dead] == [
        ("invalid_topic", "topic 'vehicles/1HGCM82633A004352/status' is not vehicles/{vin}/telemetry[/arrow]")
    ]


def test_samples_go_to_the_vehicles_rule_partition() -> None:
    payload = orjson.dumps({"vin": VIN, "ts": NOW, "signals": {"Vehicle.Speed": 10, "Vehicle.Diagnostics.DTCList": []}})
    prepared = run([(f"vehicles/{VIN}/telemetry", payload)])
    assert list(prepared.rule_batches) == [partition_of(VIN, 16)]
    batch = prepared.rule_batches[partition_of(VIN, 16)]
    assert sorted(batch.signal.tolist()) == sorted(
        [CATALOG["Vehicle.Speed"].id, CATALOG["Vehicle.Diagnostics.DTCList"].id]
    )
    assert set(batch.vehicle_id.tolist()) == {7}


def test_partition_is_stable_across_processes() -> None:
    assert partition_of(VIN, 16) == PARTITION_OF_VIN  # crc32, not Python's per-process salted hash


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner, max_size=4),
    max_leaves=20,
)
signal_names = st.sampled_from([s.path for s in CATALOG.signals] + ["Vehicle.Warp", "", "Vehicle.OBD.DTCList"])
plausible = st.fixed_dictionaries(
    {
        "vin": st.sampled_from([VIN, "WVWZZZ1JZXW000001"]),
        "samples": st.lists(
            st.fixed_dictionaries(
                {
                    "ts": st.one_of(st.integers(NOW - 10**12, NOW + 10**9), st.text(max_size=30)),
                    "signals": st.dictionaries(signal_names, json_values, max_size=6),
                }
            ),
            max_size=3,
        ),
    },
)


def _dumps(value: object) -> bytes:
    """The standard library writes what orjson will not: NaN, Infinity, integers beyond 64 bits."""
    return json.dumps(value).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(st.binary(max_size=300), json_values.map(_dumps), plausible.map(_dumps)))
def test_fuzz_every_input_is_stored_or_dead_lettered(payload: bytes) -> None:
    prepared = run([(f"vehicles/{VIN}/telemetry", payload)])
    if prepared.accepted_values == 0 and not prepared.dead:
        envelope = parse_envelope(VIN, payload, LIMITS)  # only a message carrying no values at all
        assert isinstance(envelope, Envelope)
        assert not any(signals for _ts, signals in envelope.samples), "an input vanished"
    for letter in prepared.dead:
        assert letter.payload == payload
        assert letter.rejection.detail


def arrow_batch(columns: dict[str, pa.Array]) -> bytes:
    return ipc_stream(pa.table(columns))


def stored_values(prepared: Prepared) -> dict[tuple[int, str], float]:
    rows = prepared.rows
    return {
        (int(rows.ts[i]), s.path): float(rows.values[i, j])
        for i in range(len(rows))
        for j, s in enumerate(WRITER.numeric)
        if not np.isnan(rows.values[i, j])
    }


def test_an_arrow_batch_is_stored_like_json() -> None:
    payload = arrow_batch(
        {
            "ts": pa.array([NOW - 1000, NOW - 1000, NOW], pa.int64()),
            "path": pa.array(["Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.IsRunning", "Vehicle.Speed"]),
            "value": pa.array([50.0, 1.0, 52.5]),
        }
    )
    prepared = run([(f"vehicles/{VIN}/telemetry/arrow", payload)])
    assert prepared.dead == []
    assert stored_values(prepared) == {
        (NOW - 1000, "Vehicle.Speed"): 50.0,
        (NOW - 1000, "Vehicle.Powertrain.CombustionEngine.IsRunning"): 1.0,
        (NOW, "Vehicle.Speed"): 52.5,
    }


def test_arrow_timestamps_and_bad_values_meet_the_same_checks() -> None:
    payload = arrow_batch(
        {
            "ts": pa.array([NOW * 1000, NOW * 1000], pa.timestamp("us", tz="UTC")),
            "path": pa.array(["Vehicle.Speed", "Vehicle.Exterior.AirTemperature"]).dictionary_encode(),
            "value": pa.array([900.0, 20.0]),
        }
    )
    prepared = run([(f"vehicles/{VIN}/telemetry/arrow", payload)])
    assert stored_values(prepared) == {(NOW, "Vehicle.Exterior.AirTemperature"): 20.0}
    assert [(d.rejection.reason, d.rejection.detail) for d in prepared.dead] == [
        ("out_of_range", "signal 'Vehicle.Speed' value 900 km/h is outside the valid range 0..400 km/h")
    ]


def test_a_broken_arrow_batch_is_dead_lettered() -> None:
    prepared = run(
        [
            (f"vehicles/{VIN}/telemetry/arrow", b"not arrow at all"),
            (f"vehicles/{VIN}/telemetry/arrow", arrow_batch({"ts": pa.array([NOW]), "value": pa.array([1.0])})),
        ]
    )
    reasons = [(d.rejection.reason, d.rejection.detail) for d in prepared.dead]
    assert reasons[0][0] == "malformed_arrow"
    assert reasons[0][1].startswith("not an Arrow IPC stream: ")
    assert reasons[1] == ("invalid_payload", "Arrow batch needs columns ts, path, value; missing path")


def test_a_flooding_vehicle_is_rate_limited_and_others_are_not() -> None:
    other = "WVWZZZ1JZXW000001"
    limiter = VehicleRateLimiter(per_second=5, burst=10)

    def arrive(vin: str, ts: int, speed: float) -> Received:  # what the worker does on receipt
        payload = orjson.dumps({"ts": ts, "signals": {"Vehicle.Speed": speed}})
        return Received(f"vehicles/{vin}/telemetry", payload, NOW, not limiter.allow(vin, NOW / 1000))

    received = [arrive(VIN, NOW - i, 1) for i in range(50)] + [arrive(other, NOW, 2)]
    parsed = parse(received, prefix="", limits=LIMITS, catalog=CATALOG)
    fleet = {**VEHICLES, other: (8, 6)}
    prepared = prepare(parsed, fleet, catalog=CATALOG, limits=LIMITS, writer=WRITER, partitions=16, now_ms=NOW)
    limited = [d for d in prepared.dead if d.rejection.reason == "rate_limited"]
    assert len(limited) == 40
    assert limited[0].rejection.detail == f"vehicle {VIN} sends faster than its rate limit"
    assert len(prepared.rows) == 11  # 10 of the flood (the burst) and the calm vehicle's one
    assert 8 in prepared.rows.vehicle_id.tolist()
    again = prepare(parsed, fleet, catalog=CATALOG, limits=LIMITS, writer=WRITER, partitions=16, now_ms=NOW)
    assert len(again.rows) == 11  # a retried batch is judged the same: nothing more is spent


def test_the_bucket_refills_with_time() -> None:
    limiter = VehicleRateLimiter(per_second=2, burst=2)
    assert [limiter.allow(VIN, 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow(VIN, 0.5)
    assert not limiter.allow(VIN, 0.5)
    assert not limiter.allow(VIN, 0.1)  # an older clock reading adds no tokens and drains none


def test_a_seq_going_backwards_is_stored_and_flagged_but_a_redelivery_is_not() -> None:
    def message(seq: int, ts: int) -> tuple[str, bytes]:
        return f"vehicles/{VIN}/telemetry", orjson.dumps({"seq": seq, "ts": ts, "signals": {"Vehicle.Speed": 1}})

    batch = [message(41, NOW - 3000), message(42, NOW - 2000), message(7, NOW - 1000), message(41, NOW - 3000)]
    parsed = parse([Received(t, p, NOW) for t, p in batch], prefix="", limits=LIMITS, catalog=CATALOG)
    prepared = prepare(parsed, VEHICLES, catalog=CATALOG, limits=LIMITS, writer=WRITER, partitions=16, now_ms=NOW)
    # the database reports which rows were new: the last message repeats the first one's row
    changed = {(7, NOW - 3000), (7, NOW - 2000), (7, NOW - 1000)}
    flags, highest = flag_seq_regressions(parsed, prepared, changed, {})
    assert [(f.rejection.reason, f.rejection.detail) for f in flags] == [
        ("seq_regressed", "seq 7 after 42: samples stored")
    ]
    assert highest == {7: 42}
    assert len(prepared.rows) == 3  # all stored

    replay, _ = flag_seq_regressions(parsed, prepared, set(), {7: 42})  # a redelivery writes nothing new
    assert replay == []
