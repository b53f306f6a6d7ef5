"""The ingest pipeline without I/O: every input is stored or dead-lettered, never lost."""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pipeline import Prepared, Received, parse, partition_of, prepare
from telemetry.catalog import default_catalog
from telemetry.codec import Envelope, Limits, parse_envelope
from telemetry.storage.samples import SampleWriter

VIN = "1HGCM82633A004352"
NOW = 1_763_800_000_000
LIMITS = Limits(max_payload_bytes=8192, max_future_skew_ms=300_000, retention_ms=365 * 86_400_000)
CATALOG = default_catalog()
WRITER = SampleWriter(CATALOG)
VEHICLES = {VIN: (7, 6)}
PARTITION_OF_VIN = 10  # zlib.crc32(VIN) % 16, the same in every process and release


def run(messages: list[tuple[str, bytes]]) -> Prepared:
    parsed = parse([Received(t, p, NOW) for t, p in messages], prefix="", limits=LIMITS)
    return prepare(parsed, VEHICLES, catalog=CATALOG, limits=LIMITS, writer=WRITER, partitions=16, now_ms=NOW)


def test_a_message_on_a_foreign_topic_is_dead_lettered() -> None:
    prepared = run([("vehicles/1HGCM82633A004352/status", b"{}")])
    assert [(d.rejection.reason, d.rejection.detail) for d in prepared.dead] == [
        ("invalid_topic", "topic 'vehicles/1HGCM82633A004352/status' is not vehicles/{vin}/telemetry")
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
